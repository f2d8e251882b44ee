"""Behaviour of the small kombu.utils modules: limits, time, text, imports, compat, eventio."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from kombu.utils import limits
from kombu.utils.compat import fileno, maybe_fileno, register_after_fork
from kombu.utils.eventio import ERR, READ, WRITE, _poll, _select, poll
from kombu.utils.imports import symbol_by_name
from kombu.utils.limits import TokenBucket
from kombu.utils.text import fmatch_best, fmatch_iter, version_string_as_tuple
from kombu.utils.time import maybe_s_to_ms


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_token_bucket(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(limits, "monotonic", clock)
    bucket = TokenBucket(fill_rate=2, capacity=3)
    assert bucket.can_consume(2)
    assert bucket.can_consume(1)
    assert not bucket.can_consume(1)
    assert bucket.expected_time(1) == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.expected_time(1) == 0
    assert bucket.can_consume(1)
    clock.now += 100
    assert bucket.can_consume(3)  # refills, but never above capacity
    assert not bucket.can_consume(1)
    bucket.add("a")
    bucket.add("b")
    assert bucket.pop() == "a"
    bucket.clear_pending()
    with pytest.raises(IndexError):
        bucket.pop()


def test_maybe_s_to_ms():
    assert maybe_s_to_ms(None) is None
    assert maybe_s_to_ms(1.5) == 1500
    assert maybe_s_to_ms("2") == 2000
    assert maybe_s_to_ms(0) == 0


def test_fmatch_best():
    names = ["redis", "amqp", "memory", "sqs"]
    assert fmatch_best("rediss", names) == "redis"
    assert fmatch_best("memroy", names) == "memory"
    assert fmatch_best("zzzzzz", names) is None
    assert [c for _, c in fmatch_iter("amqp", names)] == ["amqp"]
    assert version_string_as_tuple("5.3.0rc1")[:4] == (5, 3, 0, "rc1")


def test_symbol_by_name():
    assert symbol_by_name("os.path:join") is os.path.join
    assert symbol_by_name("os.path.join") is os.path.join
    assert symbol_by_name("os") is os
    assert symbol_by_name(os.path.join) is os.path.join
    assert symbol_by_name("j", aliases={"j": "os.path:join"}) is os.path.join
    with pytest.raises(ImportError):
        symbol_by_name("no_such_module_xyz:thing")
    with pytest.raises(AttributeError):
        symbol_by_name("os:no_such_attr_xyz")
    assert symbol_by_name("no_such_module_xyz:thing", default=42) == 42
    with pytest.raises(ValueError):
        symbol_by_name(".relative:thing")


def test_fileno_helpers():
    r, w = os.pipe()
    try:
        with open(r, closefd=False) as f:
            assert fileno(f) == r
        assert fileno(w) == w
        assert maybe_fileno(object()) is None
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_register_after_fork_runs_in_child_only():
    class Thing:
        pass

    thing = Thing()
    calls = []
    register_after_fork(thing, lambda obj: calls.append(obj))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        os.write(w, b"1" if calls == [thing] else b"0")
        os._exit(0)
    os.close(w)
    result = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert result == b"1"
    assert calls == []


pollers = [poll, _select] + ([_poll] if hasattr(__import__("select"), "poll") else [])


@pytest.mark.parametrize("make", pollers)
def test_poll_reports_readable_and_writable(make):
    a, b = socket.socketpair()
    p = make()
    try:
        p.register(a, READ | ERR)
        assert p.poll(0) == []
        b.send(b"x")
        assert p.poll(1) == [(a.fileno(), READ)]
        p.register(a, READ | WRITE)
        events = dict(p.poll(1))
        assert events[a.fileno()] & READ and events[a.fileno()] & WRITE
        p.unregister(a)
        p.unregister(a)  # twice is fine
        assert p.poll(0) == []
    finally:
        p.close()
        a.close()
        b.close()


def test_flag_values_match_kombu():
    assert (READ, WRITE, ERR) == (1, 4, 24)
    if sys.platform.startswith("linux"):
        import select

        assert READ == select.POLLIN and WRITE == select.POLLOUT
