#!/usr/bin/env python3
"""Check that a server really answers its protocol, not just that its port is open.

    ping.py amqp      [--port 5672] [--user guest] [--password guest] [--vhost /]
    ping.py beanstalk [--port 11300]
    ping.py mongodb   [--port 27017]
    ping.py sqs       [--port 5000]
    ping.py couchdb   [--port 5984]

Standard library only, so scripts/services.sh can run it before any virtual environment
exists.  Exit status 0 when the server answered as it should, 1 otherwise (the reason goes
to stderr).

- amqp: the AMQP 0-9-1 handshake with PLAIN credentials up to Connection.OpenOk on the
  virtual host, then a clean Connection.Close.
- beanstalk: `use default` answers `USING default`.
- mongodb: an OP_MSG `{ping: 1}` on `admin` answers `ok: 1`.
- sqs: ListQueues (JSON protocol, any credentials) answers a JSON object.
- couchdb: `GET /` answers JSON with a `version`.
"""

import argparse
import json
import socket
import struct
import sys
import urllib.request

DEFAULT_PORTS = {"amqp": 5672, "beanstalk": 11300, "mongodb": 27017, "sqs": 5000, "couchdb": 5984}


class PingError(Exception):
    pass


# --- AMQP 0-9-1 ----------------------------------------------------------------------
FRAME_METHOD = 1
FRAME_HEARTBEAT = 8
FRAME_END = b"\xce"
CONNECTION = 10
START, START_OK, TUNE, TUNE_OK, OPEN, OPEN_OK, CLOSE, CLOSE_OK = 10, 11, 30, 31, 40, 41, 50, 51


def shortstr(text):
    raw = text.encode()
    return struct.pack("B", len(raw)) + raw


def longstr(raw):
    return struct.pack(">I", len(raw)) + raw


def recv_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise PingError("the broker closed the connection (wrong credentials or vhost?)")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def send_method(sock, method_id, args=b""):
    payload = struct.pack(">HH", CONNECTION, method_id) + args
    sock.sendall(struct.pack(">BHI", FRAME_METHOD, 0, len(payload)) + payload + FRAME_END)


def read_method(sock):
    """Next connection-class method frame as (method_id, argument bytes); heartbeats skipped."""
    while True:
        head = recv_exact(sock, 7)
        if head[:4] == b"AMQP":  # the broker refused our protocol version
            raise PingError(f"protocol header refused: {head + recv_exact(sock, 1)!r}")
        ftype, _channel, size = struct.unpack(">BHI", head)
        payload = recv_exact(sock, size)
        if recv_exact(sock, 1) != FRAME_END:
            raise PingError("malformed frame from the broker")
        if ftype == FRAME_HEARTBEAT:
            continue
        if ftype != FRAME_METHOD:
            raise PingError(f"unexpected frame type {ftype}")
        class_id, method_id = struct.unpack(">HH", payload[:4])
        if class_id != CONNECTION:
            raise PingError(f"unexpected method {class_id}.{method_id}")
        if method_id == CLOSE:
            (code,) = struct.unpack(">H", payload[4:6])
            text = payload[7 : 7 + payload[6]].decode(errors="replace")
            raise PingError(f"the broker closed the connection: {code} {text}")
        return method_id, payload[4:]


def expect(sock, want, what):
    method_id, args = read_method(sock)
    if method_id != want:
        raise PingError(f"expected {what}, got connection method {method_id}")
    return args


def ping_amqp(host, port, timeout, user, password, vhost):
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        expect(sock, START, "Connection.Start")
        empty_table = struct.pack(">I", 0)
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        send_method(sock, START_OK, empty_table + shortstr("PLAIN") + longstr(response) + shortstr("en_US"))
        try:
            tune = expect(sock, TUNE, "Connection.Tune")
        except ConnectionResetError:
            raise PingError(f"login refused for user {user!r} (connection reset)") from None
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[:8])
        send_method(sock, TUNE_OK, struct.pack(">HIH", channel_max, frame_max, 0))
        send_method(sock, OPEN, shortstr(vhost) + shortstr("") + b"\x00")
        expect(sock, OPEN_OK, "Connection.OpenOk")
        send_method(sock, CLOSE, struct.pack(">H", 200) + shortstr("ping done") + struct.pack(">HH", 0, 0))
        expect(sock, CLOSE_OK, "Connection.CloseOk")


# --- beanstalkd ----------------------------------------------------------------------
def ping_beanstalk(host, port, timeout, **_):
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"use default\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    if reply != b"USING default\r\n":
        raise PingError(f"`use default` answered {reply!r}")


# --- MongoDB wire protocol -------------------------------------------------------------
OP_MSG = 2013


def bson_ping():
    """The BSON document {ping: 1, $db: 'admin'}."""
    body = b"\x10ping\x00" + struct.pack("<i", 1)
    body += b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_ok(doc):
    """The value of the top-level field 'ok' of a BSON document, or None."""
    pos, end = 4, len(doc) - 1
    while pos < end:
        kind = doc[pos]
        name_end = doc.index(b"\x00", pos + 1)
        name = doc[pos + 1 : name_end]
        pos = name_end + 1
        if kind == 0x01:  # double
            value, size = struct.unpack("<d", doc[pos : pos + 8])[0], 8
        elif kind == 0x10:  # int32
            value, size = struct.unpack("<i", doc[pos : pos + 4])[0], 4
        elif kind == 0x12:  # int64
            value, size = struct.unpack("<q", doc[pos : pos + 8])[0], 8
        elif kind == 0x08:  # bool
            value, size = doc[pos] == 1, 1
        elif kind in (0x02, 0x0D, 0x0E):  # string-like: int32 length + bytes
            value, size = None, 4 + struct.unpack("<i", doc[pos : pos + 4])[0]
        elif kind in (0x03, 0x04):  # document, array
            value, size = None, struct.unpack("<i", doc[pos : pos + 4])[0]
        elif kind == 0x05:  # binary
            value, size = None, 5 + struct.unpack("<i", doc[pos : pos + 4])[0]
        elif kind == 0x07:  # object id
            value, size = None, 12
        elif kind in (0x09, 0x11):  # datetime, timestamp
            value, size = None, 8
        elif kind in (0x0A, 0x06, 0x7F, 0xFF):  # null, undefined, max/min key
            value, size = None, 0
        else:
            return None  # a type this check does not read
        if name == b"ok":
            return value
        pos += size
    return None


def ping_mongodb(host, port, timeout, **_):
    doc = bson_ping()
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, OP_MSG)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(header + payload)
        size, _req, _to, opcode = struct.unpack("<iiii", recv_exact(sock, 16))
        reply = recv_exact(sock, size - 16)
    if opcode != OP_MSG or reply[4] != 0:
        raise PingError(f"unexpected reply opcode {opcode}")
    ok = bson_ok(reply[5:])
    if ok not in (1, 1.0, True):
        raise PingError(f"ping answered ok={ok!r}")


# --- HTTP: SQS query API, CouchDB ------------------------------------------------------
def http(url, timeout, headers=None, data=None):
    """(response headers, body) of a GET, or of a POST when data is given."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.headers, resp.read()


def ping_sqs(host, port, timeout, **_):
    # ListQueues in the JSON protocol, as boto3 sends it; credentials are never checked by
    # the stand-in, but the scope of the Authorization header names the service.
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.ListQueues",
        "Authorization": "AWS4-HMAC-SHA256 Credential=ping/20260101/us-east-1/sqs/"
        "aws4_request, SignedHeaders=host, Signature=0",
    }
    resp_headers, body = http(f"http://{host}:{port}/", timeout, headers, b"{}")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "x-amzn-requestid" not in resp_headers:
        raise PingError(f"ListQueues answered {body[:200]!r}")
    if not isinstance(answer.get("QueueUrls", []), list):
        raise PingError(f"ListQueues answered {answer!r}")


def ping_couchdb(host, port, timeout, **_):
    _, body = http(f"http://{host}:{port}/", timeout, {"Accept": "application/json"})
    try:
        info = json.loads(body)
    except ValueError:
        raise PingError(f"GET / answered {body[:200]!r}") from None
    if not isinstance(info, dict) or "version" not in info:
        raise PingError(f"GET / answered {info!r}")


CHECKS = {
    "amqp": ping_amqp,
    "beanstalk": ping_beanstalk,
    "mongodb": ping_mongodb,
    "sqs": ping_sqs,
    "couchdb": ping_couchdb,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("server", choices=sorted(CHECKS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--user", default="guest", help="amqp only")
    ap.add_argument("--password", default="guest", help="amqp only")
    ap.add_argument("--vhost", default="/", help="amqp only")
    args = ap.parse_args(argv)
    port = args.port or DEFAULT_PORTS[args.server]
    try:
        CHECKS[args.server](args.host, port, args.timeout, user=args.user, password=args.password, vhost=args.vhost)
    except (OSError, PingError, ValueError, struct.error) as exc:
        print(f"ping {args.server} {args.host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
