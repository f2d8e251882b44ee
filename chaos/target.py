"""What a chaos target is: a private broker the suite may kill, plus a URL.

A target module (``chaos/targets/<name>.py``) defines ``TARGET``, an
instance of a :class:`Target` subclass. The suite calls, per run:
:meth:`Target.available` (skip the target when false), :meth:`Target.start`
once, then per scenario :meth:`Target.url`, and for the faults
:meth:`Target.kill` + :meth:`Target.start` (``server-kill``) and
:meth:`Target.inject_poison` (``poison``); :meth:`Target.stop` at the end.
A target on a server process of its own is a :class:`chaos.servers.ServerTarget`.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ("FAULTS", "Target", "free_port", "poison_envelope", "wait_until")

#: Every fault the suite knows, in the order the table lists them.
FAULTS = ("server-kill", "tcp-cut", "idle-drop", "consumer-kill", "poison")


class Target:
    """A transport under test, on a private server of its own (127.0.0.1 only)."""

    #: The transport's name in the table (``redis``, ``amqp``, ...).
    name = ""
    #: The faults this target supports (a subset of :data:`FAULTS`).
    faults: tuple[str, ...] = FAULTS
    #: Transport options for every connection of the suite (short
    #: visibility timeouts, so a killed consumer's messages return quickly).
    transport_options: dict[str, Any] = {}
    #: Seconds a killed consumer's unacked messages take to come back.
    redelivery_seconds = 5.0
    #: The broker URL, formatted with ``host`` and ``port`` by :meth:`url`.
    url_format = ""

    def available(self) -> str | None:
        """``None`` when the target can run here, else why not (a missing binary...)."""
        return None

    def start(self, workdir: Path) -> None:
        """Start (or, after :meth:`kill`, restart with the same data) the private server."""
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL the server (what survives is what the server persisted)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server for good and forget it."""
        raise NotImplementedError

    @property
    def address(self) -> tuple[str, int]:
        """The server's ``(host, port)``."""
        raise NotImplementedError

    def url(self, address: tuple[str, int] | None = None) -> str:
        """The broker URL of the server, or of ``address`` (a fault proxy in front of it)."""
        host, port = address or self.address
        return self.url_format.format(host=host, port=port)

    def inject_poison(self, queue: str) -> int:
        """Put undecodable messages on ``queue`` with the raw client; return how many."""
        raise NotImplementedError


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check`` until it is true; ``RuntimeError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


def poison_envelope(queue: str, body: str, content_type: str, body_encoding: str | None = "base64") -> dict[str, Any]:
    """A Kombu message envelope bound for ``queue`` as the virtual transports store it.

    For :meth:`Target.inject_poison`: give it a ``body`` that is not the
    ``body_encoding`` it claims, or a ``content_type`` consumers refuse.
    """
    properties: dict[str, Any] = {
        "delivery_tag": str(uuid.uuid4()),
        "priority": 0,
        "delivery_mode": 2,
        "delivery_info": {"exchange": queue, "routing_key": queue},
    }
    if body_encoding:
        properties["body_encoding"] = body_encoding
    return {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": content_type,
        "headers": {},
        "properties": properties,
    }
