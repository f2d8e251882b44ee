"""API parity with Kombu 5.7.0: code written for Kombu 5 must keep importing.

The reference is the real Kombu 5.7.0 installed in ``.venv-kombu57`` at the
repository root.  A subprocess running that interpreter introspects the
modules listed in :data:`MODULES` and prints a JSON description of them:

* each module's public names (``__all__`` where the module defines it, else
  the public classes and functions defined in the module itself);
* for every class and function, its signature's parameters;
* for every class, its public methods, properties and class attributes (only
  those defined by Kombu's own classes, not by ``object``/``Exception``/a
  third-party base), and its Kombu base classes;
* for the instances built by :data:`INSTANCE_RECIPES` (a memory:// connection,
  its channel, an exchange, a queue, a producer, ...), the public attributes
  an instance has beyond its class's.

The same introspection code then runs here, against this project's
``kombu``, and every difference is a *gap*: a missing name, a missing
keyword parameter (``**kwargs`` in ours accepts any keyword), a positional
parameter that moved, a parameter ours requires that Kombu does not, a method
that became a property, or a Kombu base class ours does not inherit from.

Deliberate differences are listed in :data:`ALLOWED`, each with its reason.
A class attribute counts as present when ours sets it on instances (checked
on the instances of :data:`INSTANCE_RECIPES`).  An allowed entry that is no
longer a gap fails the test too, so the list
cannot rot.

If the reference interpreter is absent the tests skip, unless ``CI`` is set,
in which case they fail.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KOMBU57_PYTHON = REPO / ".venv-kombu57" / "bin" / "python"

#: Modules compared, by Kombu 5's dotted names.
MODULES: tuple[str, ...] = (
    "kombu",
    "kombu.connection",
    "kombu.entity",
    "kombu.messaging",
    "kombu.message",
    "kombu.exceptions",
    "kombu.serialization",
    "kombu.compression",
    "kombu.pools",
    "kombu.simple",
    "kombu.mixins",
    "kombu.common",
    "kombu.pidbox",
    "kombu.clocks",
    "kombu.compat",
    "kombu.asynchronous",
    "kombu.asynchronous.hub",
    "kombu.asynchronous.timer",
    "kombu.asynchronous.semaphore",
    "kombu.asynchronous.debug",
    "kombu.asynchronous.http",
    # kombu.asynchronous.aws is not compared: it needs botocore to import
    # even in Kombu 5.7.0; it is SQS's client and belongs with
    # kombu-transport-sqs.
    "kombu.utils",
    "kombu.utils.functional",
    "kombu.utils.objects",
    "kombu.utils.encoding",
    "kombu.utils.uuid",
    "kombu.utils.url",
    "kombu.utils.json",
    "kombu.utils.limits",
    "kombu.utils.time",
    "kombu.utils.compat",
    "kombu.utils.eventio",
    "kombu.utils.imports",
    "kombu.utils.text",
    "kombu.transport",
    "kombu.transport.base",
    "kombu.transport.virtual",
    "kombu.transport.virtual.base",
    "kombu.transport.virtual.exchange",
)

#: Names a module offers without listing them in ``__all__``.
EXTRA_NAMES: dict[str, tuple[str, ...]] = {
    "kombu": ("VERSION", "version_info", "version_info_t", "__version__"),
    "kombu.connection": ("Connection", "BrokerConnection", "ConnectionPool", "ChannelPool", "Resource"),
    "kombu.entity": ("Exchange", "Queue", "binding", "maybe_delivery_mode"),
    "kombu.serialization": ("registry", "dumps", "loads", "register", "unregister", "prepare_accept_content"),
    "kombu.transport.virtual.exchange": ("STANDARD_EXCHANGE_TYPES",),
    "kombu.transport.base": ("to_rabbitmq_queue_arguments", "RABBITMQ_QUEUE_ARGUMENTS", "maybe_s_to_ms"),
    "kombu.transport.virtual": ("binding_key_t", "queue_binding_t"),
}

#: Every ``from kombu... import name`` in Celery 5.7.0 (extracted from its
#: wheel with ``ast``), including semi-private names it relies on.  Checked in
#: both interpreters: each must import from Kombu 5.7.0 and from ours.
#: Transport modules belong to transport distributions and are checked only
#: when that distribution is installed (see :data:`TRANSPORT_IMPORTS`).
CELERY_IMPORTS: dict[str, tuple[str, ...]] = {
    "kombu": (
        "Connection",
        "Consumer",
        "Exchange",
        "Producer",
        "Queue",
        "eventloop",
        "pidbox",
        "pools",
        "serialization",
    ),
    "kombu.abstract": ("Object",),
    "kombu.asynchronous": ("ERR", "Hub", "WRITE", "get_event_loop", "set_event_loop", "timer"),
    "kombu.asynchronous.semaphore": ("DummyLock", "LaxBoundedSemaphore"),
    "kombu.asynchronous.timer": ("Entry", "Timer", "logger", "to_timestamp"),
    "kombu.clocks": ("LamportClock", "timetuple"),
    "kombu.common": ("Broadcast", "QoS", "ignore_errors", "maybe_declare", "oid_from"),
    "kombu.compression": ("compress", "decompress", "encoders", "get_encoder"),
    "kombu.connection": ("maybe_channel",),
    "kombu.entity": ("Exchange", "Queue"),
    "kombu.exceptions": ("ContentDisallowed", "DecodeError", "EncodeError", "LimitExceeded", "OperationalError"),
    "kombu.log": ("LOG_LEVELS", "get_logger"),
    "kombu.matcher": ("match",),
    "kombu.message": ("Message",),
    "kombu.mixins": ("ConsumerMixin",),
    "kombu.pidbox": ("Mailbox",),
    "kombu.serialization": (
        "disable_insecure_serializers",
        "dumps",
        "loads",
        "pickle",
        "pickle_protocol",
        "prepare_accept_content",
        "registry",
    ),
    "kombu.transport.native_delayed_delivery": (
        "bind_queue_to_native_delayed_delivery_exchange",
        "calculate_routing_key",
        "declare_native_delayed_delivery_exchanges_and_queues",
    ),
    "kombu.utils": ("cached_property", "json", "symbol_by_name"),
    "kombu.utils.compat": ("_detect_environment", "detect_environment", "maybe_fileno", "register_after_fork"),
    "kombu.utils.encoding": (
        "bytes_to_str",
        "ensure_bytes",
        "from_utf8",
        "safe_repr",
        "safe_str",
        "set_default_encoding_file",
        "str_to_bytes",
    ),
    "kombu.utils.eventio": ("SELECT_BAD_FD",),
    "kombu.utils.functional": (
        "LRUCache",
        "dictfilter",
        "fxrange",
        "is_list",
        "lazy",
        "maybe_evaluate",
        "maybe_list",
        "memoize",
        "reprcall",
        "retry_over_time",
    ),
    "kombu.utils.imports": ("symbol_by_name",),
    "kombu.utils.json": ("dumps",),
    "kombu.utils.limits": ("TokenBucket",),
    "kombu.utils.objects": ("cached_property",),
    "kombu.utils.url": ("_parse_url", "maybe_sanitize_url", "parse_url", "url_to_parts", "urlparse"),
    "kombu.utils.uuid": ("uuid",),
}

#: Celery's imports from Kombu's transport modules: module -> (the
#: distribution that provides it here, names).
TRANSPORT_IMPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kombu.transport.redis": ("kombu_transport_redis", ("get_redis_error_classes",)),
}

#: Code run in both interpreters before the recipes below.
INSTANCE_SETUP = """
import kombu
import kombu.asynchronous
import kombu.asynchronous.timer
import kombu.clocks
import kombu.compat
import kombu.pidbox
import kombu.pools
from kombu import Connection, Consumer, Exchange, Producer, Queue
conn = Connection('memory://')
ch = conn.channel()
_sq = conn.SimpleQueue('parity_sq')
_sq.put({'a': 1})
message = _sq.get(timeout=1)
mailbox = kombu.pidbox.Mailbox('parity')(conn)
"""

#: Instances whose attributes are compared: key -> expression.
INSTANCE_RECIPES: dict[str, str] = {
    "Connection": "Connection('memory://')",
    "Exchange": "Exchange('parity_x', 'direct')",
    "Queue": "Queue('parity_q', Exchange('parity_x'), 'rk')",
    "Producer": "Producer(ch)",
    "Consumer": "Consumer(ch, [Queue('parity_q', Exchange('parity_x'), 'rk')])",
    "compat.Consumer": ("kombu.compat.Consumer(conn, queue='parity_cq', exchange='parity_cx', routing_key='rk')"),
    "compat.Publisher": ("kombu.compat.Publisher(conn, exchange='parity_cx', routing_key='rk')"),
    "Message(memory)": "message",
    "Channel(memory)": "ch",
    "Transport(memory)": "conn.transport",
    "QoS(memory)": "ch.qos",
    "BrokerState(memory)": "conn.transport.state",
    "Management(memory)": "conn.transport.manager",
    "SimpleQueue": "_sq",
    "Mailbox": "mailbox",
    "Node": "mailbox.Node('parity-host')",
    "ProducerPool": "kombu.pools.producers[conn]",
    "ConnectionPool": "conn.Pool(2)",
    "ChannelPool": "conn.ChannelPool(2)",
    "Hub": "kombu.asynchronous.Hub()",
    "Timer": "kombu.asynchronous.timer.Timer()",
    "LamportClock": "kombu.clocks.LamportClock()",
}

# The introspection code, run by the reference interpreter (as a script) and
# by this process (exec'd), so both sides are described the same way.
INTROSPECT = r'''
import functools
import importlib
import inspect
import json
import sys


def _params(obj, drop_first=False):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out = [[p.name, p.kind.name, p.default is not inspect.Parameter.empty]
           for p in sig.parameters.values()]
    return out[1:] if drop_first and out else out


def _qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_own(cls):
    return (cls.__module__ or "").split(".")[0] in ("kombu",)


def describe_member(owner, name):
    """Describe attribute ``name`` of class ``owner`` (None if foreign)."""
    for klass in owner.__mro__:
        if name in vars(klass):
            raw = vars(klass)[name]
            break
    else:
        return {"kind": "attribute", "own": True}
    own = _is_own(klass)
    if isinstance(raw, staticmethod):
        return {"kind": "method", "own": own, "params": _params(raw.__func__)}
    if isinstance(raw, classmethod):
        return {"kind": "method", "own": own,
                "params": _params(raw.__func__, drop_first=True)}
    if inspect.isfunction(raw):
        return {"kind": "method", "own": own,
                "params": _params(raw, drop_first=True)}
    if isinstance(raw, (property, functools.cached_property)) or \
            (hasattr(type(raw), "__get__") and hasattr(raw, "fget")):
        return {"kind": "property", "own": own}
    if isinstance(raw, type):
        return {"kind": "class", "own": own}
    if callable(raw) and not isinstance(raw, (int, str, bytes, tuple)):
        try:
            bound = getattr(owner, name)
        except Exception:
            bound = raw
        return {"kind": "method", "own": own, "params": _params(bound)}
    return {"kind": "attribute", "own": own}


def describe(obj, members=True):
    """Describe a public object: its kind, parameters, bases and members."""
    if inspect.ismodule(obj):
        return {"kind": "module"}
    if isinstance(obj, type):
        out = {
            "kind": "class",
            "own": _is_own(obj),
            "params": _params(obj),
            "bases": [_qualname(b) for b in obj.__mro__[1:]
                      if b is not object],
        }
        if members:
            out["members"] = {
                n: describe_member(obj, n)
                for n in dir(obj) if not n.startswith("_")
            }
        return out
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return {"kind": "function", "params": _params(obj)}
    if callable(obj) and not isinstance(obj, functools.partial):
        return {"kind": "callable", "params": _params(obj)}
    return {"kind": "other", "type": type(obj).__name__}


def public_names(mod):
    """``__all__`` if the module has one, else its own classes/functions."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__), True
    names = []
    for name, value in vars(mod).items():
        if name.startswith("_"):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and \
                getattr(value, "__module__", None) == mod.__name__:
            names.append(name)
    return sorted(names), False


def instance_attrs(obj):
    """Public attributes of an instance that its class does not define."""
    cls_names = set(dir(type(obj)))
    return sorted(n for n in dir(obj)
                  if not n.startswith("_") and n not in cls_names)


def _import_from(modname, name):
    """``from modname import name``: an attribute, else a submodule."""
    mod = importlib.import_module(modname)
    try:
        return getattr(mod, name)
    except AttributeError:
        return importlib.import_module(f"{modname}.{name}")


def dump(config):
    modules = {}
    for modname in config["modules"]:
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # pragma: no cover - reference side
            modules[modname] = {"error": repr(exc)}
            continue
        names, has_all = public_names(mod)
        in_all = list(names) if has_all else []
        names = list(dict.fromkeys(names + config["extra"].get(modname, [])))
        entries = {}
        for name in names:
            try:
                value = getattr(mod, name)
            except AttributeError:
                continue
            entries[name] = describe(value)
        modules[modname] = {"has_all": has_all, "in_all": in_all,
                            "names": entries}
    imports = {}
    for modname, names in config.get("imports", {}).items():
        for name in names:
            try:
                _import_from(modname, name)
            except Exception as exc:
                imports[f"{modname}:{name}"] = repr(exc)
    ns = {}
    exec(config["setup"], ns)
    instances = {}
    for key, expr in config["recipes"].items():
        instances[key] = instance_attrs(eval(expr, ns))
    return {"modules": modules, "instances": instances,
            "import_errors": imports}


if __name__ == "__main__":
    print(json.dumps(dump(json.load(sys.stdin))))
'''


# ---------------------------------------------------------------------------
# Deliberate differences.  Keys:
#   "module:Name"                    the name is missing
#   "module:Name(param)"             keyword parameter missing
#   "module:Name(param)@pos"         positional parameter moved / not positional
#   "module:Name(+param)"            ours requires a parameter Kombu does not
#   "module:Name.member"             class member missing
#   "module:Name.member(param)"      (and the other parameter forms)
#   "module:Name.member:kind"        member kind differs (method vs property)
#   "module:Name<base>"              ours does not subclass Kombu's base
#   "instance:Recipe.attr"           instance attribute missing
#   "celery:module:name"             a name Celery 5.7.0 imports is missing
# A key may be an fnmatch pattern (``*``); it must match at least one gap.
# ---------------------------------------------------------------------------
ALLOWED: dict[str, str] = {
    # --- deliberate differences -------------------------------------------
    "kombu.asynchronous*:Hub.create_loop(*": "Kombu binds globals (generator, sleep, min, next, Empty, "
    "StopIteration, KeyError, READ, WRITE, ERR) as default arguments "
    "for speed; nobody passes them",
    "kombu.transport.base:Transport.close_channel(*": "Kombu's base misnames the argument `connection`; it is the channel "
    "(virtual.Transport.close_channel(channel), callers pass it "
    "positionally)",
    "kombu.asynchronous.http": "Kombu's hub-driven HTTP client (pycurl/urllib3) exists for its SQS "
    "transport; kombu-transport-sqs uses boto3 and the core stays "
    "dependency-free",
    "kombu.utils.functional:LRUCache<collections.UserDict>": "a MutableMapping with UserDict's methods; UserDict's copy() and |= "
    "would bypass the lock and the size limit",
}


def _run_reference() -> dict[str, Any]:
    config = {
        "modules": list(MODULES),
        "extra": {k: list(v) for k, v in EXTRA_NAMES.items()},
        "setup": INSTANCE_SETUP,
        "recipes": INSTANCE_RECIPES,
        "imports": {m: list(n) for m, n in CELERY_IMPORTS.items()},
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(KOMBU57_PYTHON), "-I", "-c", INTROSPECT],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """Kombu 5.7.0's API, described by its own interpreter."""
    if not KOMBU57_PYTHON.exists():
        from kombu.testing.services import missing_service

        missing_service(f"reference interpreter missing: {KOMBU57_PYTHON}")
    return _run_reference()


def _introspection() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "kombu_parity_introspect"}
    exec(INTROSPECT, ns)
    return ns


# --------------------------------------------------------------- comparison

_POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
_KEYWORD = ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")


def compare_params(key: str, theirs: list | None, ours: list | None, gaps: dict[str, str]) -> int:
    """Record where ``ours`` cannot be called as ``theirs`` can.

    Returns the number of Kombu parameters checked.
    """
    if theirs is None or ours is None:
        return 0
    o_varkw = any(k == "VAR_KEYWORD" for _, k, _d in ours)
    o_varargs = any(k == "VAR_POSITIONAL" for _, k, _d in ours)
    o_kinds = {n: k for n, k, _d in ours}
    checked = 0
    for name, kind, _default in theirs:
        if kind in _KEYWORD:
            checked += 1
            if not (o_kinds.get(name) in _KEYWORD or o_varkw):
                gaps[f"{key}({name})"] = "keyword parameter missing"
    t_pos = [n for n, k, _d in theirs if k in _POSITIONAL]
    o_pos = [n for n, k, _d in ours if k in _POSITIONAL]
    for index, name in enumerate(t_pos):
        if index < len(o_pos):
            if o_pos[index] != name:
                gaps[f"{key}({name})@pos"] = f"positional #{index} is {o_pos[index]!r} in ours"
        elif not o_varargs:
            gaps[f"{key}({name})@pos"] = f"ours takes no positional #{index}"
    t_names = {n for n, _k, _d in theirs}
    t_var = any(k.startswith("VAR_") for _n, k, _d in theirs)
    if not t_var:
        for name, kind, default in ours:
            if not default and not kind.startswith("VAR_") and name not in t_names:
                gaps[f"{key}(+{name})"] = "ours requires a parameter Kombu lacks"
    return checked


def _resolve(qualified: str) -> Any:
    """Import ``module.Qual.name`` from our package (or builtins)."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualified)


def _has_attr(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    except Exception:  # a property that needs a bound/connected object
        return True
    return True


def _compare_class(
    key: str,
    theirs: dict,
    ours_obj: type,
    intro: dict,
    gaps: dict[str, str],
    counts: dict[str, int],
    instances: list[Any],
) -> None:
    ours = intro["describe"](ours_obj)
    counts["params"] += compare_params(key, theirs["params"], ours["params"], gaps)
    for base in theirs.get("bases", ()):
        top = base.split(".")[0]
        if top != "kombu" and top not in sys.stdlib_module_names:
            continue  # a third-party base (py-amqp, vine): not ours to have
        counts["bases"] += 1
        try:
            base_obj = _resolve(base)
        except (ImportError, AttributeError):
            gaps[f"{key}<{base}>"] = "base class missing in ours"
            continue
        if not (isinstance(base_obj, type) and issubclass(ours_obj, base_obj)):
            gaps[f"{key}<{base}>"] = "ours is not a subclass"
    for mname, mdesc in theirs.get("members", {}).items():
        if not mdesc.get("own", True):
            continue
        counts["members"] += 1
        mkey = f"{key}.{mname}"
        if (
            not any(mname in vars(k) for k in ours_obj.__mro__)
            and not _has_attr(ours_obj, mname)
            and not any(isinstance(inst, ours_obj) and _has_attr(inst, mname) for inst in instances)
        ):
            gaps[mkey] = "member missing"
            continue
        odesc = intro["describe_member"](ours_obj, mname)
        if mdesc["kind"] == "property" and odesc["kind"] == "method":
            # ``if conn.flag:`` would test a bound method: always true
            gaps[f"{mkey}:kind"] = "property in Kombu, method in ours"
            continue
        if mdesc["kind"] != "method":
            continue
        if odesc["kind"] != "method":
            gaps[f"{mkey}:kind"] = f"method in Kombu, {odesc['kind']} in ours"
            continue
        counts["params"] += compare_params(mkey, mdesc["params"], odesc["params"], gaps)


def find_gaps(reference: dict[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
    """Compare the reference description with our package."""
    intro = _introspection()
    ns: dict[str, Any] = {}
    exec(INSTANCE_SETUP, ns)
    built = {recipe: eval(expr, ns) for recipe, expr in INSTANCE_RECIPES.items()}
    instances = list(built.values())
    gaps: dict[str, str] = {}
    counts = {"modules": 0, "names": 0, "params": 0, "members": 0, "bases": 0, "instance_attrs": 0, "celery_imports": 0}
    for modname, mdesc in reference["modules"].items():
        assert "error" not in mdesc, (modname, mdesc)
        counts["modules"] += 1
        try:
            mod = importlib.import_module(modname)
        except ImportError as exc:
            gaps[modname] = f"module missing: {exc}"
            continue
        ours_all = getattr(mod, "__all__", None)
        for name, desc in mdesc["names"].items():
            counts["names"] += 1
            key = f"{modname}:{name}"
            if not hasattr(mod, name):
                gaps[key] = "name missing"
                continue
            if name in mdesc["in_all"] and ours_all is not None and name not in ours_all:
                gaps[f"{key}:__all__"] = "not in __all__ (import * loses it)"
            obj = getattr(mod, name)
            if desc["kind"] == "class":
                if not isinstance(obj, type):
                    gaps[f"{key}:kind"] = "class in Kombu, not in ours"
                    continue
                if desc["own"]:
                    _compare_class(key, desc, obj, intro, gaps, counts, instances)
            elif desc["kind"] in ("function", "callable"):
                if not callable(obj):
                    gaps[f"{key}:kind"] = "callable in Kombu, not in ours"
                    continue
                counts["params"] += compare_params(key, desc["params"], intro["describe"](obj)["params"], gaps)
            elif desc["kind"] == "module" and not hasattr(obj, "__name__"):
                gaps[f"{key}:kind"] = "module in Kombu, not in ours"
    imports = dict(CELERY_IMPORTS)
    for modname, (dist, names) in TRANSPORT_IMPORTS.items():
        if importlib.util.find_spec(dist) is not None:
            imports[modname] = names
    for modname, names in imports.items():
        for name in names:
            counts["celery_imports"] += 1
            try:
                intro["_import_from"](modname, name)
            except Exception as exc:
                gaps[f"celery:{modname}:{name}"] = f"import fails: {exc!r}"
    for recipe, attrs in reference["instances"].items():
        obj = built[recipe]
        for attr in attrs:
            counts["instance_attrs"] += 1
            if not _has_attr(obj, attr):
                gaps[f"instance:{recipe}.{attr}"] = "instance attribute missing"
    return gaps, counts


@pytest.fixture(scope="module")
def comparison(reference: dict[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
    return find_gaps(reference)


def _allowed(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in ALLOWED)


def _fmt(gaps: dict[str, str]) -> str:
    return "\n".join(f"  {k}: {v}" for k, v in sorted(gaps.items()))


def test_reference_dump_covers_the_listed_modules(reference):
    """The reference description is not trivially empty."""
    modules = reference["modules"]
    assert set(modules) == set(MODULES)
    assert "Connection" in modules["kombu.connection"]["names"]
    conn = modules["kombu.connection"]["names"]["Connection"]
    assert "ensure_connection" in conn["members"]
    assert sum(len(m["names"]) for m in modules.values()) > 150
    assert "default_channel" in conn["members"]


def test_celery_imports_resolve_on_kombu57(reference):
    """The Celery import list is valid: every name imports from Kombu 5.7.0."""
    assert reference["import_errors"] == {}


def test_every_kombu5_name_and_signature_is_available(comparison):
    gaps, counts = comparison
    unexpected = {k: v for k, v in gaps.items() if not _allowed(k)}
    print("parity counts:", json.dumps(counts), file=sys.stderr)
    assert not unexpected, f"{len(unexpected)} API differences from Kombu 5.7.0 (checked {counts}):\n{_fmt(unexpected)}"


def test_allow_list_has_no_stale_entries(comparison):
    gaps, _counts = comparison
    stale = sorted(pattern for pattern in ALLOWED if not any(fnmatch.fnmatchcase(k, pattern) for k in gaps))
    assert not stale, "allowed differences that are no longer gaps:\n  " + "\n  ".join(stale)


def test_allow_list_entries_have_reasons():
    assert all(reason.strip() for reason in ALLOWED.values())


def test_comparison_detects_differences():
    """The comparison itself reports each kind of difference it claims to."""
    gaps: dict[str, str] = {}
    theirs = [["a", "POSITIONAL_OR_KEYWORD", False], ["b", "POSITIONAL_OR_KEYWORD", True], ["c", "KEYWORD_ONLY", True]]
    ours = [["b", "POSITIONAL_OR_KEYWORD", True], ["a", "POSITIONAL_OR_KEYWORD", False], ["d", "KEYWORD_ONLY", False]]
    compare_params("m:f", theirs, ours, gaps)
    assert set(gaps) == {"m:f(c)", "m:f(a)@pos", "m:f(b)@pos", "m:f(+d)"}
    gaps.clear()
    compare_params(
        "m:f",
        theirs,
        [["a", "POSITIONAL_OR_KEYWORD", False], ["b", "POSITIONAL_OR_KEYWORD", True], ["kw", "VAR_KEYWORD", False]],
        gaps,
    )
    assert gaps == {}
