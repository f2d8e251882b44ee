"""kombu.utils helpers, clocks, common.QoS/Broadcast: each answer recorded, exceptions by class name."""

import itertools
import socket

from kombu import common as C
from kombu.clocks import LamportClock, timetuple
from kombu.utils import encoding as E
from kombu.utils import functional as F
from kombu.utils import text as T
from kombu.utils.compat import _detect_environment, detect_environment, maybe_fileno
from kombu.utils.eventio import ERR, READ, WRITE, poll
from kombu.utils.imports import symbol_by_name
from kombu.utils.limits import TokenBucket
from kombu.utils.objects import cached_property
from kombu.utils.time import maybe_s_to_ms
from recording import Result, attempter

result: Result = {}
attempt = attempter(result)


attempt("fxrange", lambda: list(itertools.islice(F.fxrange(1.0, 3.0, 0.5), 8)))
attempt("fxrange_repeatlast", lambda: list(itertools.islice(F.fxrange(1.0, 2.0, 0.5, repeatlast=True), 6)))
attempt("fxrangemax", lambda: [list(F.fxrangemax(1.0, 3.0, 0.5, 5.0)), list(F.fxrangemax(0, 2, 1, 10))])
attempt(
    "maybe_list",
    lambda: [
        F.maybe_list(None),
        F.maybe_list(1),
        F.maybe_list([1]),
        F.maybe_list((1, 2)),
        F.maybe_list("ab"),
        repr(F.maybe_list(b"ab")),
    ],
)
IS_LIST_SAMPLES: tuple[object, ...] = ([], (), "x", b"x", {1}, {"a": 1}, iter([]), None, 1)
attempt("is_list", lambda: [F.is_list(x) for x in IS_LIST_SAMPLES])
attempt("dictfilter", lambda: [F.dictfilter({"a": 1, "b": None, "c": 0, "d": False}), F.dictfilter(None, a=1, b=None)])
attempt(
    "reprcall", lambda: [F.reprcall("f"), F.reprcall("f", (1, "a"), {"k": "v"}), F.reprcall("f", (), {"b": 2, "a": 1})]
)
attempt(
    "lazy",
    lambda: [
        F.maybe_evaluate(F.lazy(lambda: 42)),
        F.maybe_evaluate(3),
        repr(F.lazy(lambda: 5)),
        str(F.lazy(lambda: "x")),
        F.lazy(lambda: 1) == 1,
        F.lazy(lambda x: x * 2, 4)(),
    ],
)


def memoized():
    calls = []

    @F.memoize(maxsize=2)
    def f(x):
        calls.append(x)
        return x * 10

    return [[f(1), f(1), f(2), f(3), f(1)], calls]


attempt("memoize", memoized)


def lru():
    c = F.LRUCache(limit=2)
    c["a"] = 1
    c["b"] = 2
    c["a"]
    c["c"] = 3
    return [sorted(c.keys()), list(c.iteritems()), list(c.itervalues()), list(c.iterkeys()), c.incr("a", 5), len(c)]


attempt("lrucache", lru)


def retrying():
    calls, errors = [], []

    def fun(x):
        calls.append(x)
        if len(calls) < 3:
            raise KeyError("nope")
        return "done"

    value = F.retry_over_time(
        fun,
        KeyError,
        args=("arg",),
        max_retries=5,
        errback=lambda exc, intervals, retries: errors.append([type(exc).__name__, retries]) or 0,
        interval_start=0,
        interval_step=0,
        interval_max=0,
    )
    failing = []

    def always():
        failing.append(1)
        raise KeyError("x")

    try:
        F.retry_over_time(always, KeyError, max_retries=2, interval_start=0, interval_step=0, interval_max=0)
    except KeyError:
        gave_up = True
    return [value, calls, errors, len(failing), gave_up]


attempt("retry_over_time", retrying)


attempt("bytes_to_str", lambda: [E.bytes_to_str(b"caf\xc3\xa9"), E.bytes_to_str("x")])
attempt("str_to_bytes", lambda: [repr(E.str_to_bytes("caf\u00e9")), repr(E.str_to_bytes(b"x"))])
attempt("safe_str", lambda: [E.safe_str("x"), E.safe_str(b"caf\xc3\xa9"), E.safe_str(12)])
attempt("safe_repr", lambda: [E.safe_repr("x"), E.safe_repr(b"y"), E.safe_repr([1])])


attempt("fmatch_best", lambda: [T.fmatch_best("jsno", ["json", "yaml"]), T.fmatch_best("zzzz", ["json"])])
attempt(
    "version_string_as_tuple",
    lambda: [list(T.version_string_as_tuple("5.7.0")), list(T.version_string_as_tuple("5.7.0rc1-x"))],
)
attempt(
    "symbol_by_name",
    lambda: [
        symbol_by_name("kombu.entity:Queue").__name__,
        symbol_by_name("kombu.entity.Exchange").__name__,
        symbol_by_name("json", aliases={"json": "kombu.utils.json:dumps"}).__name__,
        symbol_by_name("kombu.nope:X", default="dflt"),
    ],
)


def missing_symbol():
    try:
        symbol_by_name("kombu.nope:X")
    except ImportError:
        return "ImportError"


attempt("symbol_by_name_missing", missing_symbol)
attempt(
    "maybe_s_to_ms",
    lambda: [maybe_s_to_ms(None), maybe_s_to_ms(1), maybe_s_to_ms(1.5), maybe_s_to_ms(0), maybe_s_to_ms(0.0001)],
)


def cached():
    calls = []

    class A:
        @cached_property
        def x(self):
            calls.append(1)
            return 7

        @x.setter
        def x(self, value):
            return value * 2

        @x.deleter
        def x(self, value):
            calls.append(["del", value])

    a = A()
    out = [a.x, a.x]
    a.x = 5
    out.append(a.x)
    del a.x
    out.append(a.x)
    return [out, calls]


attempt("cached_property", cached)


def bucket():
    b = TokenBucket(fill_rate=0, capacity=2)
    full = [b.can_consume(1), b.can_consume(1), b.can_consume(1)]
    queued = TokenBucket(fill_rate=0, capacity=1)
    queued.add(1)
    queued.add(2)
    return [full, [queued.pop(), queued.pop()], queued.capacity]


attempt("token_bucket", bucket)


def polling():
    a, b = socket.socketpair()
    p = poll()
    p.register(a, READ)
    p.register(b, WRITE)
    rounds = [p.poll(0)]
    b.send(b"x")
    rounds.append(p.poll(0))
    p.unregister(b)
    rounds.append(p.poll(0))
    p.close()
    fds = {a.fileno(): "a", b.fileno(): "b"}
    a.close()
    b.close()
    return [[READ, WRITE, ERR]] + [sorted([fds[fd], event] for fd, event in events or []) for events in rounds]


attempt("poll", polling)


def clock():
    c = LamportClock()
    out = [
        c.value,
        c.forward(),
        c.forward(),
        c.adjust(10),
        c.adjust(3),
        c.value,
        str(c),
        repr(c),
        LamportClock(initial_value=5).forward(),
    ]
    events = [timetuple(2, 1.0, "b", object()), timetuple(1, 2.0, "a", None), timetuple(2, 0.5, "a", None)]
    out.append([[t.clock, t.timestamp, t.id] for t in sorted(events)])
    out.append(c.sort_heap([(3, "x"), (1, "b"), (1, "a")]))
    return out


attempt("clock", clock)


attempt("compat", lambda: [detect_environment(), _detect_environment(), maybe_fileno(object()), maybe_fileno(3)])


attempt("oid_from", lambda: [len(C.oid_from(object())), C.oid_from(object()) == C.oid_from(object())])


def broadcast():
    b = C.Broadcast("bh_bc")
    fixed = C.Broadcast("bh_bc", queue="fixed")
    return [
        b.name.startswith("bcast."),
        b.alias,
        b.exchange.name,
        b.exchange.type,
        b.auto_delete,
        fixed.name,
        b.routing_key,
        b.exclusive,
    ]


attempt("broadcast", broadcast)


def qos():
    applied = []
    q = C.QoS(lambda prefetch_count: applied.append(prefetch_count), 2)
    steps = [
        q.value,
        q.increment_eventually(),
        q.increment_eventually(3),
        q.decrement_eventually(),
        q.update(),
        list(applied),
        q.set(0),
        q.decrement_eventually(10),
    ]
    return [steps, q.value, applied]


attempt("qos", qos)
