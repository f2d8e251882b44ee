"""Behaviour of kombu.utils' smaller modules: collections, div, scheduling, debug, compat.nested, kombu.log."""

from __future__ import annotations

import logging
import pickle
import sys
from contextlib import contextmanager

import pytest
from kombu import utils
from kombu.log import LOG_LEVELS, LogMixin, get_logger, get_loglevel
from kombu.utils.collections import EqualityDict, HashedSeq
from kombu.utils.compat import nested
from kombu.utils.debug import Logwrapped
from kombu.utils.div import emergency_dump_state
from kombu.utils.scheduling import (
    FairCycle,
    cycle_by_name,
    priority_cycle,
    round_robin_cycle,
    sorted_cycle,
)


def test_lazy_reexports_from_kombu_utils():
    from kombu.utils.functional import retry_over_time
    from kombu.utils.objects import cached_property

    assert utils.cached_property is cached_property
    assert utils.retry_over_time is retry_over_time
    assert callable(utils.uuid) and len(utils.uuid()) == 36
    with pytest.raises(AttributeError):
        utils.no_such_name  # noqa: B018


def test_equality_dict_uses_eqhash():
    class Key:
        def __init__(self, name):
            self.name = name

        def __eqhash__(self):
            return self.name

    d = EqualityDict()
    d[Key("a")] = 1
    assert d[Key("a")] == 1
    with pytest.raises(KeyError):
        d[Key("b")]
    del d[Key("a")]
    assert not d
    assert hash(HashedSeq(1, 2)) == hash((1, 2))


def test_emergency_dump_state(tmp_path, capsys, caplog):
    with caplog.at_level("ERROR", logger="kombu.utils.div"):
        path = emergency_dump_state({"a": 1})
    with open(path, "rb") as fh:
        assert pickle.load(fh) == {"a": 1}
    assert path in caplog.text  # logged when no stderr is given (Kombu 5.7)
    path2 = emergency_dump_state({"f": lambda: 1}, stderr=sys.stderr)  # not picklable: pformat text
    with open(path2, "rb") as fh:
        assert b"'f'" in fh.read()
    assert path2 in capsys.readouterr().err


def test_emergency_dump_state_with_a_text_dump():
    import json

    def text_dump(state, fh, **kwargs):
        json.dump(state, fh)

    path = emergency_dump_state({"task": "retry"}, dump=text_dump)
    with open(path, encoding="utf-8") as fh:
        assert fh.read() == '{"task": "retry"}'


def test_fair_cycle_takes_turns_and_skips_failing_resources():
    calls = []

    def fun(resource, callback):
        calls.append(resource)
        if resource == "empty":
            raise LookupError(resource)
        return callback(resource)

    cycle = FairCycle(fun, ["a", "empty", "b"], LookupError)
    got = [cycle.get(str.upper) for _ in range(3)]
    assert got == ["A", "B", "A"]
    assert calls == ["a", "empty", "b", "a"]
    with pytest.raises(LookupError):
        FairCycle(fun, ["empty"], LookupError).get(str)
    with pytest.raises(LookupError):
        FairCycle(fun, [], LookupError).get(str)


def test_cycles():
    rr = round_robin_cycle(["a", "b", "c"])
    assert rr.rotate("a") == "a" and rr.consume(3) == ["b", "c", "a"]
    rr.update(["x"])
    assert rr.items == ["x"]
    pc = priority_cycle(["b", "a"])
    pc.rotate("b")
    assert pc.consume(2) == ["b", "a"]
    assert sorted_cycle(["b", "a"]).consume(1) == ["a"]
    assert cycle_by_name("round_robin") is round_robin_cycle


def test_nested():
    log = []

    @contextmanager
    def cm(name):
        log.append(("enter", name))
        yield name
        log.append(("exit", name))

    with nested(cm(1), cm(2)) as values:
        assert values == (1, 2)
    assert log == [("enter", 1), ("enter", 2), ("exit", 2), ("exit", 1)]


def test_logwrapped_logs_calls(caplog):
    caplog.set_level(logging.DEBUG, logger="kombu.debug")
    wrapped = Logwrapped([3, 1], ident="list")
    wrapped.append(2)
    assert "append(2)" in caplog.text
    assert wrapped.count(3) == 1


def test_log_mixin(caplog):
    class Worker(LogMixin):
        pass

    caplog.set_level(logging.DEBUG, logger="Worker")
    w = Worker()
    w.info("hello %s", "world")
    w.debug(1, "b")
    assert "Worker - hello world" in caplog.text
    assert "Worker - 1 b" in caplog.text
    assert w.is_enabled_for("DEBUG")
    assert get_loglevel("INFO") == logging.INFO and get_loglevel(10) == 10
    assert LOG_LEVELS["ERROR"] == 40 and LOG_LEVELS[30] == "WARNING"
    assert get_logger("x.y").name == "x.y"


def test_compat_helpers():
    from kombu.utils.compat import coro, detect_environment, entrypoints

    assert detect_environment() == "default"
    assert all(len(pair) == 2 for pair in entrypoints("kombu"))

    @coro
    def averager():
        total, count = 0.0, 0
        average = None
        while True:
            value = yield average
            total += value
            count += 1
            average = total / count

    avg = averager()  # already advanced to the first yield
    assert avg.send(2) == 2.0
    assert avg.send(4) == 3.0


def test_text_helpers():
    from kombu.utils.text import escape_regex, pluralize, version_string_as_tuple

    assert escape_regex("a.b*c") == r"a\.b\*c"
    assert escape_regex("a.b", white=".") == "a.b"
    assert version_string_as_tuple("5.7.0") == (5, 7, 0, "", "")
    assert version_string_as_tuple("1.2") == (1, 2, 0, "", "")
    assert pluralize(1, "message") == "message" and pluralize(2, "message") == "messages"


def test_setup_logging_adds_a_handler_once(tmp_path, monkeypatch):
    from kombu.log import setup_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    logfile = tmp_path / "kombu.log"
    logger = setup_logging("INFO", str(logfile))
    assert logger is root and len(root.handlers) == 1 and root.level == logging.INFO
    setup_logging("DEBUG")
    assert len(root.handlers) == 1  # already configured: left alone
    root.handlers[0].close()


def test_debug_setup_logging(monkeypatch):
    from kombu.utils.debug import setup_logging

    logger = logging.getLogger("kombu.test.debug")
    monkeypatch.setattr(logger, "handlers", [])
    setup_logging(logging.INFO, loggers=["kombu.test.debug"])
    assert logger.level == logging.INFO and len(logger.handlers) == 1
