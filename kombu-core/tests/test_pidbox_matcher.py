"""kombu.matcher, used by pidbox to address nodes by pattern."""

from __future__ import annotations

import pytest
from kombu.matcher import MatcherNotInstalled, MatcherRegistry, match, register, registry, unregister


def test_glob_is_the_default():
    assert match("worker1@host", "worker*")
    assert match("worker1@host", "worker*", "glob")
    assert not match("celery@host", "worker*")
    assert match(b"worker1@host", b"worker?@*")


def test_pcre_matches_from_the_start():
    assert match("worker1@host", r"worker\d", "pcre")
    assert not match("my-worker1", r"worker\d", "pcre")


def test_empty_never_matches():
    assert not match("", "*")
    assert not match("x", "")


def test_register_and_unregister():
    register("suffix", lambda data, pattern: data.endswith(pattern))
    try:
        assert match("worker@host", "@host", "suffix")
    finally:
        unregister("suffix")
    with pytest.raises(MatcherNotInstalled):
        match("a", "a", "suffix")
    with pytest.raises(MatcherNotInstalled):
        unregister("suffix")
    assert isinstance(registry, MatcherRegistry)
