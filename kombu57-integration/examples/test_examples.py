"""Kombu 5.7.0's own ``examples/`` run unchanged on this project (memory://, redis://, amqp://).

Each example runs in a subprocess of the interpreter running these tests, with
only its broker URL literal replaced (see ``run_examples.py``), and must print
what it prints on Kombu 5.7.0. Only the (example, broker) pairs that run on
Kombu 5.7.0 are required (``KOMBU57_FAILS`` says why the others do not), plus
those this project passes beyond Kombu (``BEYOND_KOMBU57``). Known failures run
as strict xfails: one that starts passing fails until it is taken off the list.

    .venv/bin/python -m pytest kombu57-integration/examples/test_examples.py -q
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kombu.testing.services import missing_service, require_service, tcp_probe

_spec = importlib.util.spec_from_file_location("kombu57_run_examples", Path(__file__).with_name("run_examples.py"))
assert _spec is not None and _spec.loader is not None
runner = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = runner
_spec.loader.exec_module(runner)


def _cases() -> list[object]:
    cases: list[object] = []
    for broker in runner.BROKERS:
        for name in runner.EXAMPLES:
            if not runner.in_scope(name, broker):
                continue
            marks = []
            reason = runner.KNOWN_FAILURES.get((name, broker))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cases.append(pytest.param(name, broker, id=f"{name}-{broker}", marks=marks))
    return cases


@pytest.fixture(scope="module")
def source() -> Path:
    try:
        folder: Path = runner.examples_source()
    except Exception as exc:  # noqa: BLE001 - no sdist (offline PyPI) means nothing to run
        missing_service(f"Kombu 5.7.0's sdist is not available: {type(exc).__name__}: {exc}")
    return folder


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kombu57-examples")


def _require(broker: str) -> None:
    if broker == "memory":
        return
    parts = urlsplit(runner.BROKERS[broker])
    require_service(broker, tcp_probe(parts.hostname or "127.0.0.1", parts.port or 0))


@pytest.mark.parametrize(("name", "broker"), _cases())
def test_example_runs_unchanged(name: str, broker: str, source: Path, workdirs: Path) -> None:
    _require(broker)
    workdir = runner.prepare(source, broker, workdirs)
    outcome = runner.run_example(runner.EXAMPLES[name], broker, Path(sys.executable), workdir)
    assert outcome.ok, f"{outcome.problem}\n{outcome.transcript()}"


def _blank_urls(line: str) -> str:
    return runner._URL_LITERAL.sub(lambda m: 2 * (m.group("q") or m.group("q2")), line)


@pytest.mark.parametrize("broker", list(runner.BROKERS))
def test_only_broker_url_literals_change(broker: str, source: Path, workdirs: Path) -> None:
    """The copy that runs differs from Kombu's file only where a broker URL literal was."""
    workdir = runner.prepare(source, broker, workdirs)
    url = runner.BROKERS[broker]
    files = sorted(source.rglob("*.py"))
    assert files, f"no example in {source}"
    connecting = 0
    for original in files:
        before = original.read_text().splitlines()
        after = (workdir / original.relative_to(source)).read_text().splitlines()
        assert len(before) == len(after), original
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        for old, new in changed:
            assert runner._URL_LITERAL.search(old), f"{original.name}: a line without a broker URL changed: {old!r}"
            assert url in new and _blank_urls(old) == _blank_urls(new), f"{original.name}: {old!r} -> {new!r}"
        connecting += bool(changed)
    assert connecting >= 10, "the URL literals of Kombu's examples were not found: has the rule gone stale?"


def test_substitution_rule() -> None:
    text = "Connection('amqp://guest:guest@localhost:5672//')\nmain(\"pyamqp://\")\nx = 'amqp'\n"
    new, count = runner.substitute_url(text, "redis://127.0.0.1:6379")
    assert count == 2
    assert new == "Connection('redis://127.0.0.1:6379')\nmain(\"redis://127.0.0.1:6379\")\nx = 'amqp'\n"
