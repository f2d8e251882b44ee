"""``sqlite://`` leases: a consumer killed outright loses nothing, a slow live one keeps its messages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Queue
from kombu.plugins import registry

TUTORIAL = Path(__file__).resolve().parents[1]

#: A consumer that takes one message and dies without acking or closing anything.
KILLED_CONSUMER = """
import os, sys
sys.path.insert(0, sys.argv[2])
from kombu import Connection, plugins
from kombu_sqlite import plugin
plugins.register(plugin, name="kombu-sqlite-tutorial")
conn = Connection(sys.argv[1], transport_options={"visibility_timeout": 3})
message = conn.SimpleQueue("leases").get(timeout=10)
print(message.payload, flush=True)
os._exit(0)
"""


@pytest.fixture
def url() -> Iterator[str]:
    assert "sqlite" in {info.name for info in registry().unique_transports()}
    folder = Path(tempfile.mkdtemp(prefix="kombu-sqlite-leases-"))
    yield f"sqlite:///{folder / 'leases.db'}"
    shutil.rmtree(folder, ignore_errors=True)


def _size(conn: Connection) -> int:
    return Queue("leases")(conn.default_channel).queue_declare(passive=True).message_count


def test_a_killed_consumers_message_comes_back_after_its_lease(url: str) -> None:
    with Connection(url, transport_options={"visibility_timeout": 1}) as conn:
        conn.SimpleQueue("leases").put("precious")
        child = subprocess.run(
            [sys.executable, "-c", KILLED_CONSUMER, url, str(TUTORIAL)], capture_output=True, text=True, timeout=60
        )
        assert child.stdout.strip() == "precious", child.stderr
        assert _size(conn) == 0  # leased by the dead consumer: not ready yet

        message = conn.SimpleQueue("leases").get(timeout=10)
        assert message.payload == "precious"
        assert message.delivery_info["redelivered"]
        message.ack()
        time.sleep(1.5)  # past the lease: an acked message never comes back
        assert _size(conn) == 0
        assert conn.default_channel.basic_get("leases") is None


def test_a_slow_live_consumer_keeps_its_lease(url: str) -> None:
    # Renewed every 0.4 s by the LeaseKeeper: a loaded machine may delay a renewal by 0.8 s.
    options = {"visibility_timeout": 1.2}
    with Connection(url, transport_options=options) as slow, Connection(url, transport_options=options) as other:
        slow.SimpleQueue("leases").put("mine")
        message = slow.SimpleQueue("leases").get(timeout=10)
        time.sleep(3.6)  # three leases long
        assert other.default_channel.basic_get("leases") is None
        message.requeue()
        again = other.SimpleQueue("leases").get(timeout=10)
        assert again.payload == "mine" and again.delivery_info["redelivered"]
        again.ack()
