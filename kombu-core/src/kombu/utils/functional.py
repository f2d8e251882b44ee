"""Small functional helpers: retrying, lazy values, float ranges, memoizing.

These carry Kombu 5's names and behaviour (``kombu.utils.functional``), so
code importing them from Kombu keeps working.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from functools import wraps
from itertools import count, repeat
from time import monotonic, sleep

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = (
    "ChannelPromise",
    "LRUCache",
    "accepts_argument",
    "dictfilter",
    "fxrange",
    "fxrangemax",
    "is_list",
    "lazy",
    "maybe_evaluate",
    "maybe_list",
    "memoize",
    "promise",
    "reprcall",
    "reprkwargs",
    "retry_over_time",
    "shufflecycle",
)


_KEYWORD_MARK = KEYWORD_MARK = object()


class ChannelPromise:
    """A channel that is created on first use.

    ``ChannelPromise(factory)`` calls ``factory()`` the first time the promise
    is called and returns that same channel on every later call.
    """

    __slots__ = ("__contract__", "__value__")
    __value__: Any

    def __init__(self, contract: Callable[[], Any]) -> None:
        self.__contract__ = contract

    def __call__(self) -> Any:
        try:
            return self.__value__
        except AttributeError:
            pass
        # Outside the handler: an error of the factory is not chained to
        # the AttributeError.
        value = self.__value__ = self.__contract__()
        return value

    def __repr__(self) -> str:
        try:
            return repr(self.__value__)
        except AttributeError:
            return f"<promise: 0x{id(self.__contract__):x}>"


class LRUCache(MutableMapping):  # type: ignore[type-arg]
    """A thread-safe mapping that keeps at most ``limit`` items.

    Reading or writing a key makes it the most recently used; when full, the
    least recently used key is dropped. ``limit=None`` means unbounded.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.mutex = threading.RLock()
        self.data: OrderedDict[Any, Any] = OrderedDict()

    def __getitem__(self, key: Any) -> Any:
        with self.mutex:
            value = self.data[key]
            self.data.move_to_end(key)
            return value

    def __setitem__(self, key: Any, value: Any) -> None:
        with self.mutex:
            data = self.data
            if key in data:
                data.move_to_end(key)
            data[key] = value
            if self.limit is not None:
                while len(data) > self.limit:
                    data.popitem(last=False)

    def __delitem__(self, key: Any) -> None:
        with self.mutex:
            del self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.data))

    def keys(self) -> list[Any]:  # type: ignore[override]
        """Return a snapshot list of the keys, least recently used first."""
        with self.mutex:
            return list(self.data)

    def values(self) -> list[Any]:  # type: ignore[override]
        """Return a snapshot list of the values, least recently used first."""
        with self.mutex:
            return list(self.data.values())

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """Return a snapshot list of ``(key, value)`` pairs."""
        with self.mutex:
            return list(self.data.items())

    def iterkeys(self) -> Iterator[Any]:
        """Iterate over a snapshot of the keys (Kombu 5 / Python 2 name)."""
        return iter(self.keys())

    def itervalues(self) -> Iterator[Any]:
        """Iterate over a snapshot of the values (Kombu 5 / Python 2 name)."""
        return iter(self.values())

    def iteritems(self) -> Iterator[tuple[Any, Any]]:
        """Iterate over a snapshot of the ``(key, value)`` pairs (Kombu 5 / Python 2 name)."""
        return iter(self.items())

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override, unused-ignore]
        """Insert every item, then trim to ``limit``."""
        with self.mutex:
            for key, value in dict(*args, **kwargs).items():
                self[key] = value

    def popitem(self, last: bool = True) -> tuple[Any, Any]:  # type: ignore[override, unused-ignore]
        """Remove and return the most (``last=True``) or least recent item."""
        with self.mutex:
            return self.data.popitem(last)

    def clear(self) -> None:
        """Remove every item."""
        with self.mutex:
            self.data.clear()

    def incr(self, key: Any, delta: int = 1) -> int:
        """Add ``delta`` to the integer stored at ``key`` and return the result.

        As memcached (and Kombu 5): the new value is stored as a string
        and returned as an int.
        """
        with self.mutex:
            value = int(self[key]) + delta
            self[key] = str(value)
            return value

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["mutex"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state
        self.mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.data)!r}, limit={self.limit!r})"


def memoize(
    maxsize: int | None = None,
    keyfun: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
    Cache: type = LRUCache,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator caching a function's results by its arguments.

    At most ``maxsize`` results are kept (least recently used dropped first).
    ``keyfun(args, kwargs)`` builds the cache key; by default positional and
    keyword arguments together. The wrapper has ``hits``, ``misses``,
    ``clear()`` and ``original_func``.
    """

    def decorator(fun: Callable[..., T]) -> Callable[..., T]:
        cache = Cache(limit=maxsize)
        mutex = threading.Lock()

        @wraps(fun)
        def memoized(*args: Any, **kwargs: Any) -> T:
            if keyfun is not None:
                key = keyfun(args, kwargs)
            elif kwargs:
                key = args + (_KEYWORD_MARK,) + tuple(sorted(kwargs.items()))
            else:
                key = args
            try:
                with mutex:
                    value = cache[key]
            except KeyError:
                value = fun(*args, **kwargs)
                memoized.misses += 1  # type: ignore[attr-defined]
                with mutex:
                    cache[key] = value
            else:
                memoized.hits += 1  # type: ignore[attr-defined]
            return value  # type: ignore[no-any-return]

        def clear() -> None:
            cache.clear()
            memoized.hits = memoized.misses = 0  # type: ignore[attr-defined]

        memoized.hits = memoized.misses = 0  # type: ignore[attr-defined]
        memoized.clear = clear  # type: ignore[attr-defined]
        memoized.original_func = fun  # type: ignore[attr-defined]
        return memoized

    return decorator


class lazy:
    """A deferred call: ``lazy(fun, *args, **kwargs)``.

    ``evaluate()`` (or calling the object) runs ``fun(*args, **kwargs)`` each
    time; ``str``, ``repr`` and ``==`` act on the evaluated value.
    """

    def __init__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._fun = fun
        self._args = args
        self._kwargs = kwargs

    def __call__(self) -> Any:
        return self.evaluate()

    def evaluate(self) -> Any:
        """Run the deferred call and return its result."""
        return self._fun(*self._args, **self._kwargs)

    def __str__(self) -> str:
        return str(self())

    def __repr__(self) -> str:
        return repr(self())

    def __eq__(self, other: object) -> bool:
        return bool(self() == other)

    def __ne__(self, other: object) -> bool:
        return bool(self() != other)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        memo[id(self)] = self
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self._fun,), {"_args": self._args, "_kwargs": self._kwargs})


promise = lazy


def maybe_promise(value: Any) -> Any:
    """Return ``value``, evaluated first if it is a :class:`lazy` (Kombu's old name)."""
    return maybe_evaluate(value)


def maybe_evaluate(value: Any) -> Any:
    """Return ``value.evaluate()`` for a :class:`lazy` value, else ``value``."""
    if isinstance(value, lazy):
        return value.evaluate()
    return value


def is_list(obj: Any, scalars: tuple[type, ...] = (Mapping, str), iters: tuple[type, ...] = (Iterable,)) -> bool:
    """Return true if ``obj`` is iterable but not one of ``scalars`` (a mapping or ``str``).

    As in Kombu 5, ``bytes`` is iterable and so counts as a list; pass
    ``scalars`` to change that.
    """
    return isinstance(obj, iters) and not isinstance(obj, scalars or ())


def maybe_list(obj: Any, scalars: tuple[type, ...] = (Mapping, str)) -> Any:
    """Wrap ``obj`` in a list unless it already is a list-like (``None`` stays ``None``)."""
    if obj is None or is_list(obj, scalars):
        return obj
    return [obj]


def dictfilter(d: Mapping[Any, Any] | None = None, **kw: Any) -> dict[Any, Any]:
    """Return a copy of ``d`` (merged with ``kw``) without the items whose value is ``None``."""
    items = d.items() if d is not None else ()
    merged = dict(items, **kw) if kw else dict(items)
    return {k: v for k, v in merged.items() if v is not None}


def shufflecycle(it: list[Any]) -> Iterator[Any]:
    """Yield items of ``it`` forever, each a random pick (Kombu's failover helper)."""
    import random

    it = list(it)
    for _ in repeat(None):
        random.shuffle(it)
        yield it[0]


def fxrange(
    start: float = 1.0, stop: float | None = None, step: float = 1.0, repeatlast: bool = False
) -> Iterator[float]:
    """Yield floats ``start, start+step, ...`` up to and including ``stop``.

    With ``stop`` falsy the range is infinite. With ``repeatlast`` the last
    value within ``stop`` is yielded forever after the range is exhausted.
    """
    current = float(start)
    while True:
        if not stop or current <= stop:
            yield current
            current += step
        elif repeatlast:
            yield current - step
        else:
            return


def fxrangemax(start: float = 1.0, stop: float | None = None, step: float = 1.0, max: float = 100.0) -> Iterator[float]:
    """Yield floats from ``start`` growing by ``step`` (capped at ``stop``).

    Stops once the running total of the values that follow the first reaches
    ``max`` (Kombu's definition: the intervals of a retry policy that waits at
    most about ``max`` seconds in total).
    """
    total, current = 0.0, float(start)
    while total < max:
        yield current
        current = min(current + step, stop) if stop else current + step
        total += current


def retry_over_time(
    fun: Callable[..., T],
    catch: type[BaseException] | tuple[type[BaseException], ...],
    args: Iterable[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    errback: Callable[[BaseException, Iterator[float], int], float | None] | None = None,
    max_retries: int | None = None,
    interval_start: float = 2,
    interval_step: float = 2,
    interval_max: float = 30,
    callback: Callable[[], Any] | None = None,
    timeout: float | None = None,
) -> T:
    """Call ``fun(*args, **kwargs)`` until it succeeds, retrying on ``catch``.

    After a failure the wait is ``interval_start`` seconds, growing by
    ``interval_step`` each retry up to ``interval_max`` (then staying there).
    No wait is ever longer than ``interval_max``: neither an interval the
    errback sees nor the number of seconds it returns (Kombu 5.7).

    * ``max_retries``: how many retries after the first attempt; ``None``
      retries forever. When exceeded, the last exception is re-raised.
    * ``timeout``: seconds after which a failure is re-raised rather than
      retried; ``None`` means no deadline.
    * ``errback(exc, intervals, retries)`` is called after each failure that
      will be retried, with the iterator of intervals and the retry count
      (0 for the first retry); its return value is the number of seconds to
      sleep (Kombu's ``Connection.ensure_connection`` passes an errback that
      takes ``next(intervals)`` and hands it to the user's
      ``errback(exc, interval)``). Without ``errback`` the next interval is used.
    * ``callback()`` is called after each failure and once per second while
      sleeping, so a caller can abort by raising from it.

    Returns what ``fun`` returns.
    """
    args = () if not args else args
    kwargs = {} if not kwargs else kwargs
    ceiling = float(interval_max)
    intervals = (
        min(value, ceiling)
        for value in fxrange(interval_start, interval_max + interval_start, interval_step, repeatlast=True)
    )
    deadline = monotonic() + timeout if timeout else None
    for retries in count():
        try:
            return fun(*args, **kwargs)
        except catch as exc:
            if max_retries is not None and retries >= max_retries:
                raise
            if deadline is not None and monotonic() > deadline:
                raise
            if callback is not None:
                callback()
            if errback is not None:
                wait = errback(exc, intervals, retries)
            else:
                wait = next(intervals)
            wait = min(float(wait or 0), ceiling)
            if wait > 0:
                whole = int(wait)
                for _ in range(whole):
                    if callback is not None:
                        callback()
                    sleep(1.0)
                if wait - whole:
                    sleep(wait - whole)
    raise AssertionError("unreachable")  # pragma: no cover


def reprkwargs(kwargs: Mapping[str, Any], sep: str = ", ", fmt: str = "{0}={1}") -> str:
    """Format keyword arguments as ``k=repr(v)`` joined by ``sep``."""
    return sep.join(fmt.format(k, repr(v)) for k, v in kwargs.items())


def reprcall(name: str, args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] | None = None, sep: str = ", ") -> str:
    """Format a call as it would be written: ``reprcall('f', (1,), {'a': 2})`` gives ``"f(1, a=2)"``."""
    kwargs = kwargs or {}
    parts = [repr(arg) for arg in args]
    if kwargs:
        parts.append(reprkwargs(kwargs, sep))
    return f"{name}({sep.join(parts)})"


def accepts_argument(func: Callable[..., Any], argument_name: str) -> bool:
    """Return true if ``func`` has a parameter named ``argument_name`` (not ``*args``/``**kwargs``).

    A bound method's ``self`` counts, as in Kombu 5; ``TypeError`` when
    ``func`` is not callable.
    """
    import inspect

    spec = inspect.getfullargspec(func)
    return argument_name in spec.args or argument_name in spec.kwonlyargs
