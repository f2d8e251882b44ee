"""``connect_timeout`` bounds the whole connect, AMQP handshake included.

The server here accepts TCP connections (the kernel completes them on the
listening socket) and never says a word. Before, pika waited its own 15 s
stack timeout whatever ``connect_timeout`` said, and its error was not one
of the transport's connection errors.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from kombu import Connection

CONNECT_TIMEOUT = 1.0
MARGIN = 2.5  # generous: a loaded machine, not a speed assertion

pytestmark = pytest.mark.nobroker


@pytest.fixture
def silent_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("scheme", ["amqp", "pika"])
def test_one_attempt_fails_within_connect_timeout(scheme: str, silent_port: int) -> None:
    conn = Connection(f"{scheme}://guest:guest@127.0.0.1:{silent_port}//", connect_timeout=CONNECT_TIMEOUT)
    started = time.monotonic()
    with pytest.raises(conn.connection_errors):
        conn.transport.establish_connection()
    assert time.monotonic() - started < CONNECT_TIMEOUT + MARGIN


@pytest.mark.parametrize("scheme", ["amqp", "pika"])
def test_connect_raises_a_recoverable_connection_error(scheme: str, silent_port: int) -> None:
    conn = Connection(f"{scheme}://guest:guest@127.0.0.1:{silent_port}//", connect_timeout=CONNECT_TIMEOUT)
    started = time.monotonic()
    with pytest.raises(conn.recoverable_connection_errors):
        conn.connect()  # Kombu: two attempts, with the default pause between them
    # two bounded attempts plus the pause; pika alone took 2 x 15 s before
    assert time.monotonic() - started < 2 * CONNECT_TIMEOUT + 2 + 2 * MARGIN
    conn.release()
