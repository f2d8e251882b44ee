"""`pip install ./kombu-core` alone gives a working memory:// and `python -m kombu`."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

CORE = Path(__file__).resolve().parents[1]

OVERVIEW = """
from kombu import Connection, Exchange, Queue
media = Exchange("media", "direct", durable=True)
video = Queue("video", exchange=media, routing_key="video")
got = []
def process_media(body, message):
    got.append(body)
    message.ack()
with Connection("memory://") as conn:
    with conn.Producer(exchange=media, serializer="json") as producer:
        producer.publish({"name": "/tmp/lolcat1.avi", "size": 1301013}, routing_key="video", declare=[video])
    with conn.Consumer(video, callbacks=[process_media]) as consumer:
        conn.drain_events(timeout=1)
assert got == [{"name": "/tmp/lolcat1.avi", "size": 1301013}], got
try:
    Connection("redis://localhost")
except ImportError as exc:
    assert "pip install kombu-transport-redis" in str(exc), exc
else:
    raise AssertionError("redis:// must not be available without its distribution")
print("overview ok")
"""


def test_core_alone_in_an_empty_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(CORE)], check=True, capture_output=True, timeout=600)
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], check=True, capture_output=True, text=True
    ).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert "kombu-core" in names and "pluggy" in names
    assert not names & {"redis", "amqp", "pika", "boto3", "pymongo", "greenstalk", "requests"}

    out = subprocess.run([python, "-c", OVERVIEW], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "overview ok" in out

    listing = subprocess.run([python, "-m", "kombu"], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "memory://" in listing
    assert "redis" not in listing
    for name in ("json", "pickle", "zlib", "bzip2", "lzma"):
        assert name in listing
    assert sys.executable != str(python)
