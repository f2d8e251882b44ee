"""Unit tests that need no broker: encoding, the plugin, the socket I/O layer."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import amqp
import pytest
from amqp.serialization import decode_properties_basic, loads
from kombu_transport_amqp import common
from kombu_transport_amqp._frames import (
    PreparedMessage,
    ack_frame,
    content_header_parts,
    encode_properties,
    publish_method_frame,
)
from kombu_transport_amqp._io import BufferedTCPTransport
from kombu_transport_amqp._table import decode_properties, decode_table, encode_table

pytestmark = pytest.mark.nobroker

TABLE: dict[str, Any] = {
    "s": "héllo",
    "b": b"\x00\xff",
    "t": True,
    "f": False,
    "i": 7,
    "neg": -(2**31) + 1,
    "big": 2**40,
    "d": 2.25,
    "dec": Decimal("-1.250"),
    "ts": datetime(2020, 1, 2, 3, 4, 5),
    "n": None,
    "a": [1, "x", [2.5, None], {"k": "v"}],
    "nested": {"x": {"y": [True]}},
}

PROPS: dict[str, Any] = {
    "content_type": "application/json",
    "content_encoding": "utf-8",
    "application_headers": TABLE,
    "delivery_mode": 2,
    "priority": 9,
    "correlation_id": "c",
    "reply_to": "r",
    "expiration": "1000",
    "message_id": "m",
    "timestamp": 1_620_284_889,
    "type": "t",
    "user_id": "u",
    "app_id": "a",
    "cluster_id": "cl",
}


def test_properties_encode_byte_for_byte_like_py_amqp() -> None:
    theirs = amqp.Message(b"", **PROPS)._serialize_properties()
    assert encode_properties(PROPS) == theirs


def test_table_encoding_matches_py_amqp_and_decodes_like_it() -> None:
    from amqp.serialization import dumps

    ours = encode_table(TABLE)
    assert ours == dumps("F", (TABLE,))
    assert decode_table(ours, 0)[0] == loads("F", ours, 0)[0][0]


def test_property_decoder_matches_py_amqp() -> None:
    raw = encode_properties(PROPS)
    assert encode_properties(dict(PROPS, timestamp=datetime(2021, 5, 6, 7, 8, 9))) == raw
    assert decode_properties(raw, 0) == decode_properties_basic(raw, 0)[0]


def test_unencodable_header_names_the_key() -> None:
    with pytest.raises(TypeError, match="'bad'"):
        encode_table({"bad": object()})


def test_prepared_message_shape_key_ignores_body_and_skips_headers() -> None:
    a = PreparedMessage(b"1", 0, "application/json", "utf-8", {}, {"delivery_mode": 2})
    b = PreparedMessage(b"2", 0, "application/json", "utf-8", {}, {"delivery_mode": 2})
    assert a.shape_key() == b.shape_key() is not None
    assert PreparedMessage(b"", headers={"h": 1}).shape_key() is None
    assert a.properties == {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": {},
        "priority": 0,
        "delivery_mode": 2,
    }


def test_publish_frames_parse_back() -> None:
    frame = publish_method_frame(3, "ex", "rk", True, False)
    ftype, channel, size = frame[0], int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:7], "big")
    assert (ftype, channel, len(frame)) == (1, 3, size + 8) and frame[-1] == 0xCE
    args, _ = loads("Bssbb", frame[11:-1], 0)
    assert args == [0, "ex", "rk", True, False]
    head, tail = content_header_parts(3, b"\x00\x00")
    assert head[0] == 2 and tail.endswith(b"\xce\x03\x00\x03")
    ack = ack_frame(3, 42, True)
    assert loads("Lb", ack[11:-1], 0)[0] == [42, True]


def test_queue_arguments_and_option_coercion() -> None:
    assert common.to_rabbitmq_queue_arguments({"x-a": 1}, expires=1.5, max_priority=None) == {
        "x-a": 1,
        "x-expires": 1500,
    }
    with pytest.raises(TypeError):
        common.to_rabbitmq_queue_arguments({}, bogus=1)
    opts = common.coerce_options({"confirm_publish": "false", "write_buffer_size": "10", "x": "y"})
    assert opts == {"confirm_publish": False, "write_buffer_size": 10, "x": "y"}
    assert common.qos_semantics_matches_spec({"product": "RabbitMQ", "version": "3.10.8"}) is False
    assert common.qos_semantics_matches_spec({"product": "RabbitMQ", "version": "4.0.1"}) is True
    assert common.qos_semantics_matches_spec({"product": "other"}) is True


def test_queue_types_registry() -> None:
    types = common.QueueTypes()
    types.record("q", {"x-queue-type": "quorum"})
    types.record("c", {})
    assert types.needs_per_consumer_qos("q") and not types.needs_per_consumer_qos("c")
    types.forget("q")
    assert not types.needs_per_consumer_qos("q")


def test_plugin_describes_both_transports_without_importing_clients() -> None:
    code = (
        "import sys; import kombu_transport_amqp.plugin as p; "
        "infos = p.kombu_transports(); "
        "print(sorted(i.name for i in infos), 'amqp' in sys.modules, 'pika' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['amqp', 'pika'] False False"
    from kombu_transport_amqp.plugin import kombu_transports

    amqp_info, pika_info = kombu_transports()
    assert tuple(amqp_info.schemes) == ("amqp", "pyamqp", "amqps")
    assert amqp_info.target == "kombu_transport_amqp.pyamqp:Transport"
    assert tuple(amqp_info.kombu_modules) == ("pyamqp", "amqp")
    assert pika_info.schemes == ("pika",) and pika_info.client_package == "pika"
    assert amqp_info.distribution == pika_info.distribution == "kombu-transport-amqp"


def _pair(**kwargs: Any) -> tuple[BufferedTCPTransport, socket.socket]:
    ours, peer = socket.socketpair()
    transport = BufferedTCPTransport("127.0.0.1:1", **kwargs)
    transport.sock = ours
    transport.connected = True
    return transport, peer


def _frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return bytes([ftype]) + channel.to_bytes(2, "big") + len(payload).to_bytes(4, "big") + payload + b"\xce"


def test_reads_many_frames_from_one_chunk_and_keeps_partial_ones() -> None:
    transport, peer = _pair()
    frames = [_frame(1, 1, b"a" * n) for n in (0, 5, 300)]
    blob = b"".join(frames) + _frame(3, 2, b"z" * 10)
    peer.sendall(blob[:-4])
    got = [transport.read_frame() for _ in range(3)]
    assert got == [(1, 1, b""), (1, 1, b"aaaaa"), (1, 1, b"a" * 300)]
    assert not transport.has_buffered_frame()
    transport.sock.settimeout(0.05)
    with pytest.raises(socket.timeout):
        transport.read_frame()
    peer.sendall(blob[-4:])
    assert transport.read_frame() == (3, 2, b"z" * 10)


def test_dispatch_acks_are_batched_until_end_of_dispatch() -> None:
    transport, peer = _pair()
    peer.settimeout(0.05)
    transport.begin_dispatch()
    transport.write_later(b"ack1", True)
    transport.write_later(b"ack2", True)
    with pytest.raises(socket.timeout):
        peer.recv(100)
    transport.write_later(b"pub", False)  # direct mode: sent at once, after the acks
    assert peer.recv(100) == b"ack1ack2pub"
    transport.write_later(b"ack3", True)
    transport.end_dispatch()
    assert peer.recv(100) == b"ack3"


def test_buffer_mode_pushes_before_any_read_of_the_thread() -> None:
    transport, peer = _pair(write_mode="buffer")
    other, other_peer = _pair()
    peer.settimeout(0.05)
    transport.write_later(b"p1")
    transport.write_later(b"p2")
    with pytest.raises(socket.timeout):
        peer.recv(100)
    other_peer.sendall(_frame(8, 0, b""))
    assert other.read_frame() == (8, 0, b"")  # this thread reads: everything is pushed
    assert peer.recv(100) == b"p1p2"


def test_cork_mode_sends_to_the_kernel_and_pushes_on_flush() -> None:
    transport, peer = _pair(write_mode="cork")
    transport.write_later(b"c1")
    transport.flush()
    peer.settimeout(1)
    assert peer.recv(100) == b"c1"


def test_unknown_write_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        BufferedTCPTransport("127.0.0.1:1", write_mode="sometimes")


def test_kombu_module_paths_and_schemes_resolve_to_these_transports() -> None:
    import kombu.transport.amqp
    import kombu.transport.pika
    import kombu.transport.pyamqp
    import kombu_transport_amqp.pika
    import kombu_transport_amqp.pyamqp
    from kombu import Connection

    assert kombu.transport.pyamqp is kombu_transport_amqp.pyamqp
    assert kombu.transport.amqp is kombu_transport_amqp.pyamqp
    assert kombu.transport.pika is kombu_transport_amqp.pika
    for scheme in ("amqp", "pyamqp", "amqps"):
        assert isinstance(Connection(f"{scheme}://").transport, kombu_transport_amqp.pyamqp.Transport)
    assert isinstance(Connection("pika://").transport, kombu_transport_amqp.pika.Transport)
    assert Connection("amqp://").transport.supports_ev
    assert Connection("pika://").transport.supports_ev
