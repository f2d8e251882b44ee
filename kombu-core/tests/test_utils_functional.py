"""Behaviour of kombu.utils.functional."""

from __future__ import annotations

import pickle
from itertools import islice

import pytest
from kombu.utils.functional import (
    ChannelPromise,
    LRUCache,
    dictfilter,
    fxrange,
    fxrangemax,
    is_list,
    lazy,
    maybe_evaluate,
    maybe_list,
    memoize,
    reprcall,
    reprkwargs,
    retry_over_time,
)


class Flaky:
    """Fails ``failures`` times with ``exc`` and then returns ``"ok"``."""

    def __init__(self, failures: int, exc: type[Exception] = OSError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.args = args
        self.kwargs = kwargs
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "ok"


def test_retry_over_time_returns_after_failures():
    fun = Flaky(3)
    seen = []

    def errback(exc, intervals, retries):
        seen.append((str(exc), retries))
        return 0

    assert retry_over_time(fun, OSError, (1,), {"a": 2}, errback=errback) == "ok"
    assert fun.calls == 4
    assert fun.args == (1,) and fun.kwargs == {"a": 2}
    assert seen == [("failure 1", 0), ("failure 2", 1), ("failure 3", 2)]


def test_retry_over_time_raises_last_error_when_max_retries_exceeded():
    fun = Flaky(10)
    with pytest.raises(OSError, match="failure 3"):
        retry_over_time(fun, OSError, max_retries=2, errback=lambda *a: 0)
    assert fun.calls == 3


def test_retry_over_time_max_retries_zero_tries_once():
    fun = Flaky(1)
    with pytest.raises(OSError):
        retry_over_time(fun, OSError, max_retries=0)
    assert fun.calls == 1


def test_retry_over_time_does_not_catch_other_errors():
    fun = Flaky(1, exc=KeyError)
    with pytest.raises(KeyError):
        retry_over_time(fun, OSError, errback=lambda *a: 0)
    assert fun.calls == 1


def test_retry_over_time_errback_gets_interval_iterator():
    fun = Flaky(4)
    intervals = []

    def errback(exc, it, retries):
        intervals.append(next(it))
        return 0

    retry_over_time(fun, OSError, errback=errback, interval_start=1, interval_step=3, interval_max=5)
    # 1, 4, then capped: repeats the last value within the range (start + max).
    assert intervals == [1.0, 4.0, 4.0, 4.0]


def test_retry_over_time_timeout_reraises(monkeypatch):
    from kombu.utils import functional

    clock = iter([0.0, 5.0, 11.0])
    monkeypatch.setattr(functional, "monotonic", lambda: next(clock))
    fun = Flaky(10)
    with pytest.raises(OSError, match="failure 2"):
        retry_over_time(fun, OSError, timeout=10, errback=lambda *a: 0)
    assert fun.calls == 2


def test_retry_over_time_sleeps_the_interval_and_calls_callback(monkeypatch):
    from kombu.utils import functional

    slept = []
    monkeypatch.setattr(functional, "sleep", slept.append)
    callbacks = []
    fun = Flaky(1)
    retry_over_time(fun, OSError, interval_start=2.5, callback=lambda: callbacks.append(1))
    assert slept == [1.0, 1.0, 0.5]
    # once after the failure, once per whole second slept
    assert len(callbacks) == 3


def test_retry_over_time_callback_can_abort(monkeypatch):
    from kombu.utils import functional

    monkeypatch.setattr(functional, "sleep", lambda s: None)

    def callback():
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        retry_over_time(Flaky(5), OSError, callback=callback)


def test_fxrange():
    assert list(fxrange(1.0, 3.0, 0.5)) == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert list(islice(fxrange(1.0, 3.0, 1.0, repeatlast=True), 6)) == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    assert list(islice(fxrange(0, None, 2), 4)) == [0.0, 2.0, 4.0, 6.0]


def test_fxrangemax():
    assert list(fxrangemax(1.0, 3.0, 1.0, max=10)) == [1.0, 2.0, 3.0, 3.0]
    assert list(fxrangemax(2.0, None, 2.0, max=10)) == [2.0, 4.0]


def test_maybe_list_and_is_list():
    assert maybe_list(None) is None
    assert maybe_list(1) == [1]
    assert maybe_list("abc") == ["abc"]
    assert maybe_list({"a": 1}) == [{"a": 1}]
    lst = [1, 2]
    assert maybe_list(lst) is lst
    assert maybe_list((1, 2)) == (1, 2)
    assert is_list([1]) and not is_list("x") and not is_list({})


def test_lazy_and_maybe_evaluate():
    calls = []

    def fun(x, y=0):
        calls.append(x)
        return x + y

    value = lazy(fun, 1, y=2)
    assert calls == []
    assert value() == 3
    assert value.evaluate() == 3
    assert str(value) == "3" and repr(value) == "3"
    assert value == 3
    assert maybe_evaluate(value) == 3
    assert maybe_evaluate(10) == 10
    assert len(calls) == 6
    restored = pickle.loads(pickle.dumps(lazy(max, 1, 5)))
    assert restored() == 5


def test_dictfilter():
    assert dictfilter({"a": 1, "b": None}) == {"a": 1}
    assert dictfilter({"a": 1}, b=None, c=3) == {"a": 1, "c": 3}
    assert dictfilter(None, c=None, e=0) == {"e": 0}


def test_reprcall():
    assert reprcall("f") == "f()"
    assert reprcall("f", (1, "a")) == "f(1, 'a')"
    assert reprcall("f", (1,), {"b": 2}) == "f(1, b=2)"
    assert reprcall("f", (), {"b": "x"}) == "f(b='x')"
    assert reprkwargs({"a": 1, "b": 2}) == "a=1, b=2"


def test_memoize_caches_by_arguments():
    calls = []

    @memoize(maxsize=2)
    def square(x, scale=1):
        calls.append(x)
        return x * x * scale

    assert square(2) == 4 and square(2) == 4
    assert calls == [2]
    assert square(2, scale=3) == 12
    assert square.hits == 1 and square.misses == 2
    square(5)  # evicts the least recently used entry, square(2)
    square(2)
    assert calls == [2, 2, 5, 2]
    square.clear()
    assert square.hits == 0 and square.misses == 0
    square(5)
    assert calls[-1] == 5


def test_memoize_keyfun():
    @memoize(keyfun=lambda args, kwargs: args[0] % 2)
    def parity(x):
        return x

    assert parity(1) == 1
    assert parity(3) == 1  # same key as 1


def test_lru_cache():
    cache = LRUCache(limit=2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache["a"] == 1  # a is now most recent
    cache["c"] = 3
    assert "b" not in cache and list(cache) == ["a", "c"]
    assert cache.incr("a", 4) == 5
    restored = pickle.loads(pickle.dumps(cache))
    assert restored.items() == [("c", 3), ("a", "5")]  # stored as a string, as memcached
    restored["d"] = 4
    assert len(restored) == 2


def test_channel_promise_calls_factory_once():
    made = []

    def factory():
        made.append(object())
        return made[-1]

    promise = ChannelPromise(factory)
    assert "promise" in repr(promise)
    assert promise() is promise() is made[0]
    assert len(made) == 1
