#!/usr/bin/env python3
"""Check that an AMQP 0-9-1 broker really answers: log in and open a virtual host.

Usage: amqp_ping.py [--host H] [--port P] [--user U] [--password W] [--vhost V] [--timeout S]

Standard library only, so it runs before any virtual environment exists.  It sends the
protocol header, answers Connection.Start with PLAIN credentials, Tune with TuneOk, opens
the virtual host and closes the connection cleanly.  Exit status 0 when the broker opened
the virtual host, 1 otherwise (the reason goes to stderr).
"""
import argparse
import socket
import struct
import sys

FRAME_METHOD = 1
FRAME_HEARTBEAT = 8
FRAME_END = b'\xce'
CONNECTION = 10
START, START_OK, TUNE, TUNE_OK, OPEN, OPEN_OK, CLOSE, CLOSE_OK = 10, 11, 30, 31, 40, 41, 50, 51


class PingError(Exception):
    pass


def shortstr(text):
    raw = text.encode()
    return struct.pack('B', len(raw)) + raw


def longstr(raw):
    return struct.pack('>I', len(raw)) + raw


def recv_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise PingError('the broker closed the connection (wrong credentials or vhost?)')
        chunks.append(chunk)
        size -= len(chunk)
    return b''.join(chunks)


def send_method(sock, method_id, args=b''):
    payload = struct.pack('>HH', CONNECTION, method_id) + args
    sock.sendall(struct.pack('>BHI', FRAME_METHOD, 0, len(payload)) + payload + FRAME_END)


def read_method(sock):
    """Next connection-class method frame as (method_id, argument bytes); heartbeats skipped."""
    while True:
        head = recv_exact(sock, 7)
        if head[:4] == b'AMQP':          # the broker refused our protocol version
            raise PingError(f'protocol header refused: {head + recv_exact(sock, 1)!r}')
        ftype, _channel, size = struct.unpack('>BHI', head)
        payload = recv_exact(sock, size)
        if recv_exact(sock, 1) != FRAME_END:
            raise PingError('malformed frame from the broker')
        if ftype == FRAME_HEARTBEAT:
            continue
        if ftype != FRAME_METHOD:
            raise PingError(f'unexpected frame type {ftype}')
        class_id, method_id = struct.unpack('>HH', payload[:4])
        if class_id != CONNECTION:
            raise PingError(f'unexpected method {class_id}.{method_id}')
        if method_id == CLOSE:
            code, = struct.unpack('>H', payload[4:6])
            text = payload[7:7 + payload[6]].decode(errors='replace')
            raise PingError(f'the broker closed the connection: {code} {text}')
        return method_id, payload[4:]


def expect(sock, want, what):
    method_id, args = read_method(sock)
    if method_id != want:
        raise PingError(f'expected {what}, got connection method {method_id}')
    return args


def ping(host, port, user, password, vhost, timeout):
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b'AMQP\x00\x00\x09\x01')
        expect(sock, START, 'Connection.Start')
        empty_table = struct.pack('>I', 0)
        response = b'\x00' + user.encode() + b'\x00' + password.encode()
        send_method(sock, START_OK,
                    empty_table + shortstr('PLAIN') + longstr(response) + shortstr('en_US'))
        try:
            tune = expect(sock, TUNE, 'Connection.Tune')
        except ConnectionResetError:
            raise PingError(f'login refused for user {user!r} (connection reset)') from None
        channel_max, frame_max, _heartbeat = struct.unpack('>HIH', tune[:8])
        send_method(sock, TUNE_OK, struct.pack('>HIH', channel_max, frame_max, 0))
        send_method(sock, OPEN, shortstr(vhost) + shortstr('') + b'\x00')
        expect(sock, OPEN_OK, 'Connection.OpenOk')
        send_method(sock, CLOSE, struct.pack('>H', 200) + shortstr('ping done')
                    + struct.pack('>HH', 0, 0))
        expect(sock, CLOSE_OK, 'Connection.CloseOk')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=5672)
    ap.add_argument('--user', default='guest')
    ap.add_argument('--password', default='guest')
    ap.add_argument('--vhost', default='/')
    ap.add_argument('--timeout', type=float, default=5.0)
    args = ap.parse_args(argv)
    try:
        ping(args.host, args.port, args.user, args.password, args.vhost, args.timeout)
    except (OSError, PingError) as exc:
        print(f'amqp_ping {args.host}:{args.port}: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
