"""Behaviour parity with Kombu 5.7.0 on the paths Celery relies on.

Each scenario is a small module in ``behaviour/`` (not collected by pytest;
seen by ruff) using only Kombu 5's public API that leaves a JSON-able
``result``.  The module runs in a fresh interpreter with this project's
``kombu`` and its result must equal the expected value written here; it also
runs under Kombu 5.7.0 (``.venv-kombu57``) and the two results must be equal,
so the expected values are Kombu's own behaviour, not our reading of it.
When the reference interpreter is absent, the expected values are still
checked, then the test is skipped (a failure when ``CI`` is set:
:func:`kombu.testing.services.missing_service`).

Scenarios: ``maybe_declare`` with ``Connection.declared_entities``;
``producers[conn].acquire(block=True)`` publishing on memory:// and the pools
running dry; ``Connection.ensure_connection(max_retries=...)`` against a
transport whose broker refuses a given number of times; ``Queue.from_dict``;
pickling of ``Exchange``/``Queue`` (including across the two
implementations); ``kombu.utils.json.dumps`` output, byte for byte.
"""

from __future__ import annotations

import json
import os
import pickle
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

from kombu.testing.services import missing_service

REPO = Path(__file__).resolve().parents[2]
KOMBU57_PYTHON = REPO / ".venv-kombu57" / "bin" / "python"
BEHAVIOUR = Path(__file__).resolve().parent / "behaviour"

# Runs the scenario module argv[1] as ``__name__ == "scenario"`` with
# ``INPUT`` (JSON in argv[2]) among its globals; its folder is importable
# for the shared helpers (entity_description, json_value).
RUNNER = r"""
import json, os, runpy, sys
path = sys.argv[1]
sys.path.insert(0, os.path.dirname(path))
ns = runpy.run_path(path, init_globals={"INPUT": json.loads(sys.argv[2]) or {}},
                    run_name="scenario")
print(json.dumps(ns["result"], sort_keys=True))
"""


def scenario_path(name: str) -> Path:
    """The module of scenario ``name`` (``behaviour/<name>.py``)."""
    path = BEHAVIOUR / f"{name}.py"
    assert path.is_file(), f"no scenario module {path}"
    return path


def _run(python: str | Path, name: str, data: Any = None) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(python), "-I", "-c", RUNNER, str(scenario_path(name)), json.dumps(data)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"{python} failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


def ours(name: str, data: Any = None) -> Any:
    """Scenario ``name``'s result with this project's kombu."""
    return _run(sys.executable, name, data)


def reference(name: str, data: Any = None) -> Any:
    """Scenario ``name``'s result under Kombu 5.7.0.

    Without the reference interpreter the test is skipped, or fails when
    ``CI`` is set (:func:`~kombu.testing.services.missing_service`).
    """
    if not KOMBU57_PYTHON.exists():
        missing_service(f"Kombu 5.7.0 reference interpreter missing: {KOMBU57_PYTHON} (make reference)")
    return _run(KOMBU57_PYTHON, name, data)


#: Known differences from Kombu 5.7.0 in the lead's modules, by result path
#: (``scenario:key.key``), each with what is to be fixed.  An entry whose
#: path no longer differs fails the test, so the list is kept current.
KNOWN_GAPS: dict[str, str] = {
    **{
        f"from_dict:{case}.exchange.arguments": "deliberate: Exchange(arguments=None).arguments is {} here, "
        "None in Kombu 5.7.0; both declare the same exchange on every "
        "broker and `if exchange.arguments:` reads the same, while {} "
        "spares every transport a None check on its declare path"
        for case in ("celery_add_compat", "binding_key_wins", "split_durability", "name_only")
    },
    "core:connection_memory.recoverable_connection_errors": "deliberate: for transports without their own "
    "recoverable_connection_errors Kombu 5 falls back to "
    "connection_errors + channel_errors, so ensure() reconnects and "
    "retries a channel error (NOT_FOUND, PRECONDITION_FAILED), forever "
    "with max_retries=None; those errors are deterministic, so here "
    "they reach the caller at once as the typed error they are",
    "core:connection_memory.uri": "deliberate: Kombu 5 prints memory://:**@localhost// although there "
    "is no password; ours omits the mask",
    "core:connection_memory.is_evented": "deliberate (issue 3): memory:// supports the event loop here",
    "core:entities.can_cache": "deliberate: Queue(expires=...).can_cache_declaration is False "
    "here; Kombu 5 looks only at x-expires in queue_arguments (True), "
    "so maybe_declare skips redeclaring a queue the broker may have "
    "deleted and later publishes to it are lost",
    "core:entities.requeued": "deliberate: a message requeued by reject(requeue=True) comes back "
    "with delivery_info['redelivered'] True (AMQP); Kombu 5's memory "
    "transport leaves it unset",
    "core:entities.delete": "deliberate: bound Queue.delete() returns the number of messages "
    "deleted (AMQP's queue.delete-ok, what Kombu 5 returns on amqp://) "
    "on every transport; Kombu 5's virtual transports return None",
    "celery:celery_connection": "deliberate: memory:// URIs keep their scheme in as_uri() "
    "('memory://localhost//'); Kombu 5 prints 'localhost//'",
}


def differences(got: Any, expected: Any, path: str = "") -> dict[str, str]:
    """Paths (``a.b``) where ``got`` differs from ``expected``."""
    if isinstance(got, dict) and isinstance(expected, dict):
        out: dict[str, str] = {}
        for key in sorted(set(got) | set(expected)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in got or key not in expected:
                out[sub] = "missing on one side"
            else:
                out.update(differences(got[key], expected[key], sub))
        return out
    if got != expected:
        return {path: f"got {got!r}, Kombu 5.7.0 gives {expected!r}"}
    return {}


def _assert_only_known(got: Any, expected: Any, scenario: str) -> None:
    diffs = {f"{scenario}:{p}": why for p, why in differences(got, expected).items()}
    unexpected = {p: why for p, why in diffs.items() if p not in KNOWN_GAPS}
    assert not unexpected, unexpected
    stale = [p for p in KNOWN_GAPS if p.startswith(f"{scenario}:") and p not in diffs]
    assert not stale, f"fixed, remove from KNOWN_GAPS: {stale}"


def check(name: str, expected: Any, scenario: str = "") -> Any:
    """Assert scenario module ``name`` gives ``expected`` here and in Kombu 5.7.0.

    Differences listed in :data:`KNOWN_GAPS` under ``scenario`` are
    tolerated, and must still be differences.
    """
    got = ours(name)
    _assert_only_known(got, expected, scenario)
    ref = reference(name)
    assert ref == expected, differences(ref, expected)
    return got


def compare(name: str, scenario: str) -> Any:
    """Assert scenario module ``name`` gives here what Kombu 5.7.0 gives.

    Differences listed in :data:`KNOWN_GAPS` under ``scenario`` are
    tolerated, and must still be differences.
    """
    got = ours(name)
    ref = reference(name)
    _assert_only_known(got, ref, scenario)
    return got


# ------------------------------------------------------------ maybe_declare


def test_maybe_declare_and_declared_entities():
    check(
        "maybe_declare",
        {
            "first": True,
            "again": False,
            "hash_remembered": True,
            "original_left_unbound": False,
            "equal_queue_is_cached": True,
            "bound_entity_no_channel": True,
            "auto_delete_every_time": [True, True],
            "after_clear": True,
            "declared_for_real": {"n": 1},
            "unbound_without_channel": "ChannelError",
            "close_forgets": 0,
        },
    )


# ------------------------------------------------------------------- pools


def test_producer_pool_publishes_on_memory():
    check(
        "producer_pool",
        {
            "group_is_stable": True,
            "keyed_by_equal_url": True,
            "producer_class": "Producer",
            "pooled_connection": True,
            "reused": True,
            "consumed": [[{"hello": "world"}, "application/json"]],
            "connection_pool_dry": "ConnectionLimitExceeded",
            "connection_back": True,
            "channel_pool_dry": "ChannelLimitExceeded",
            "channel_back": True,
        },
    )


# -------------------------------------------------------- ensure_connection


def test_ensure_connection_max_retries():
    refused = ["ConnectionRefusedError", 0]
    check(
        "ensure_connection",
        {
            "recovers": {"returned_self": True, "connected": True, "attempts": 3, "errback": [refused, refused]},
            "gives_up": {
                "raised": "OperationalError",
                "cause_kept": True,
                "attempts": 3,
                "errback": [refused, refused],
            },
            "one_retry": {"returned_self": True, "connected": True, "attempts": 2, "errback": [refused]},
        },
    )


# ---------------------------------------------------------- Queue.from_dict


_PLAIN_EXCHANGE = {
    "type": "direct",
    "durable": True,
    "auto_delete": False,
    "delivery_mode": None,
    "arguments": None,
    "no_declare": False,
}
_PLAIN_QUEUE = {
    "durable": True,
    "auto_delete": False,
    "exclusive": False,
    "no_ack": False,
    "alias": None,
    "queue_arguments": None,
    "binding_arguments": None,
    "consumer_arguments": None,
    "expires": None,
    "message_ttl": None,
    "max_length": None,
    "max_length_bytes": None,
    "max_priority": None,
    "bindings": [],
}


def test_queue_from_dict():
    check(
        "from_dict",
        {
            "celery_add_compat": {
                **_PLAIN_QUEUE,
                "name": "celery",
                "routing_key": "celery",
                "exchange": {**_PLAIN_EXCHANGE, "name": "celery"},
            },
            "binding_key_wins": {
                **_PLAIN_QUEUE,
                "name": "video",
                "routing_key": "video.#",
                "durable": False,
                "exchange": {**_PLAIN_EXCHANGE, "name": "media", "type": "topic", "durable": False},
            },
            "split_durability": {
                **_PLAIN_QUEUE,
                "name": "split",
                "routing_key": "",
                "auto_delete": True,
                "exchange": {**_PLAIN_EXCHANGE, "name": "fan", "type": "fanout", "durable": False},
            },
            "arguments": {
                **_PLAIN_QUEUE,
                "name": "prio",
                "routing_key": "p",
                "queue_arguments": {"x-dead": "dlx"},
                "max_priority": 10,
                "expires": 30,
                "message_ttl": 5.5,
                "max_length": 100,
                "max_length_bytes": 4096,
                "binding_arguments": {"x-match": "all"},
                "consumer_arguments": {"x-priority": 3},
                "no_ack": True,
                "exclusive": True,
                "alias": "p-alias",
                "auto_delete": True,  # an exclusive queue is auto-deleted
                "exchange": {
                    **_PLAIN_EXCHANGE,
                    "name": "px",
                    "delivery_mode": 1,
                    "arguments": {"alternate-exchange": "ae"},
                },
            },
            "name_only": {
                **_PLAIN_QUEUE,
                "name": "only_name",
                "routing_key": "",
                "exchange": {**_PLAIN_EXCHANGE, "name": ""},
            },
        },
        scenario="from_dict",
    )


# ------------------------------------------------------------------ pickle


def test_exchange_and_queue_pickle():
    got = ours("pickling")
    own = got["own"]
    for key in ("exchange", "queue", "multi", "bound"):
        assert own[key]["equal"], key
        assert own[key]["same_as_original"], key
        assert own[key]["bound"] is False, key
    assert own["queue"]["description"]["max_priority"] == 5
    assert own["queue"]["description"]["exchange"]["arguments"] == {"a": 1}
    assert own["multi"]["description"]["bindings"] == [["bh_pk_f", "", None], ["bh_pk_x", "a.*", {"k": "v"}]]
    ref = reference("pickling")
    # Pickles are interchangeable both ways; both sides agree on the result.
    ours_loading_theirs = ours("pickling", ref["pickles"])["loaded"]
    theirs_loading_ours = reference("pickling", got["pickles"])["loaded"]
    for key in own:
        assert ref["own"][key] == own[key], key
        assert ours_loading_theirs[key] == own[key]["description"], key
        assert theirs_loading_ours[key] == own[key]["description"], key


def test_unpickled_entities_in_this_process():
    """Pickle round trip here too: an unpickled queue declares and routes."""
    from kombu import Connection, Exchange, Queue

    ex = Exchange("bh_pk_live_x", "direct")
    queue = pickle.loads(pickle.dumps(Queue("bh_pk_live_q", ex, "k")))
    with Connection("memory://") as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        with conn.Producer() as producer:
            producer.publish("hi", exchange=ex, routing_key="k")
        message = bound.get(no_ack=True)
        assert message is not None and message.payload == "hi"
    assert not queue.is_bound


# -------------------------------------------------------------------- json


def test_json_dumps_matches_kombu57_byte_for_byte():
    got = ours("json_dumps")
    assert got["registered"] == ('{"p": {"__type__": "bh_point", "__value__": [3, 4]}}')
    assert got["registered_back"] == ["Point", 3, 4]
    assert got["reducer"] == '{"r": {"reduced": [1, 2]}}'
    assert '"uuid": {"__type__": "uuid", "__value__": ' in got["plain"]
    assert got["round_trip"]["decimal"] == ["Decimal", "Decimal('3.14159265358979323846264338327950288')"]
    assert got["round_trip"]["aware"][0] == "datetime"
    # tuples come back as lists, as with any JSON
    assert got["round_trip"]["nested"][0] == "list"
    ref = reference("json_dumps")
    for key in ref:
        assert got[key] == ref[key], key


def test_json_loads_reads_kombu57_output():
    """What Kombu 5.7.0 writes, ours reads back to the same values."""
    from kombu.utils.json import loads

    ref = reference("json_dumps")
    value = runpy.run_path(str(scenario_path("json_value")))["value"]
    loaded = loads(ref["plain"])
    expected = dict(value, nested=[value["nested"][0], list(value["nested"][1])])
    assert loaded == expected
    assert {k: type(v) for k, v in loaded.items()} == {k: type(v) for k, v in expected.items()}


# --------------------------------------------------------------- utilities


def test_utilities_behave_as_in_kombu57():
    got = compare("utilities", "utilities")
    # a few of Kombu's answers, spelled out
    assert got["maybe_list"] == [None, [1], [1], [1, 2], ["ab"], "b'ab'"]
    assert got["retry_over_time"][0:2] == ["done", ["arg"] * 3]
    assert got["retry_over_time"][3:] == [3, True]
    assert got["lrucache"][0] == ["a", "c"]
    assert got["token_bucket"] == [[True, True, False], [1, 2], 1]
    assert got["clock"][:6] == [0, 1, 2, 11, 12, 12]
    assert got["qos"] == [[2, 3, 6, 5, 5, [5], 0, 1], 1, [5, 0]]


# ---------------------------------------------------------------- patterns


def test_patterns_behave_as_in_kombu57():
    got = compare("patterns", "patterns")
    assert got["simple"][:3] == [3, 3, [{"a": 1}, "application/json"]]
    assert got["compat"] == [{"n": 1}, 1, None, [{"n": 3}], ["bh_cs1"]]
    assert got["send_collect_replies"] == [{"answer": 42}, {"answer": 43}]
    assert got["itermessages_eventloop"][:5] == [{"i": 0}, {"i": 1}, [{"i": 2}], [{"i": 9}], []]
    assert got["keywords"][-1] == ('{"c": {"__type__": "bh_celsius", "__value__": 21.5}}')


# ---------------------------------------------------------------- the core


def test_connection_defaults_as_in_kombu57():
    """``Connection()`` and ``Connection('host')`` mean AMQP in Kombu 5."""
    check(
        "defaults",
        {
            "no_url": {"transport": "amqp", "hostname": "localhost", "uri": "amqp://guest:**@localhost:5672//"},
            "host_only": {"transport": "amqp", "hostname": "localhost", "uri": "amqp://guest:**@localhost:5672//"},
        },
        scenario="defaults",
    )


def test_core_objects_behave_as_in_kombu57():
    got = compare("core", "core")
    assert got["ensure"] == [3, [3, True], [[1, 2, False], [3, 0, True]]]
    assert got["entities"]["msg"]["payload"] == {"x": 1}
    assert got["entities"]["double_ack"] == "MessageStateError"
    assert got["consumer"]["decode_error"] == ["ContentDisallowed"]


# ----------------------------------------------------------- Celery's paths


def test_celery_declarations_and_publishes_on_memory():
    check(
        "celery_paths",
        {
            "celery_connection": "localhost//",
            "rpc_reply_queue": "declared",
            "event_queue": "declared",
            "expiring_publish": {"task": "t"},
            "priority_queue": {"n": 1},
        },
        scenario="celery",
    )


# ------------------------------------------------------------------ mixins


def test_consumer_mixins_as_in_kombu57():
    check(
        "mixins",
        {
            "consumer": {
                "got": [{"i": 0}, {"i": 1}, {"i": 2}],
                "events": [
                    "on_connection_revived",
                    ["get_consumers", "Channel"],
                    ["on_consume_ready", 1, []],
                    "on_iteration",
                    "on_consume_end",
                ],
                "should_stop": True,
                "restart_limit": [1.0, 1.0],
                "errors": [["ConnectionError"], ["ChannelError"]],
                "connect_max_retries": None,
            },
            "producer_mixin": {
                "separate_connection": True,
                "producer_connection_type": "Connection",
                "reply": {"reply": 42},
            },
        },
        scenario="mixins",
    )


# --------------------------------------------------------------- the runner

#: Modules of ``behaviour/`` that are imported by scenarios, not run as one.
SHARED_MODULES = {"recording", "entity_description", "json_value"}


def test_every_scenario_module_is_run_by_a_test():
    """No module in ``behaviour/`` is left behind without a test running it."""
    import re

    source = Path(__file__).read_text()
    run = set(re.findall(r'\b(?:check|compare|ours|reference)\(\s*"(\w+)"', source))
    modules = {p.stem for p in BEHAVIOUR.glob("*.py")}
    assert SHARED_MODULES <= modules
    assert run <= modules, run - modules
    assert modules - SHARED_MODULES == run, (modules - SHARED_MODULES) - run
