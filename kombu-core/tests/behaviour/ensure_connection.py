"""Connection.ensure_connection(max_retries=...) against a transport whose broker refuses N times."""

from kombu import Connection
from kombu.exceptions import OperationalError
from kombu.transport.memory import Transport as MemoryTransport


def refusing(times):
    attempts = []

    class Refusing(MemoryTransport):
        connection_errors = MemoryTransport.connection_errors + (ConnectionRefusedError,)

        def establish_connection(self):
            attempts.append(1)
            if len(attempts) <= times:
                raise ConnectionRefusedError("broker down")
            return super().establish_connection()

    return Refusing, attempts


def attempt(times, **kwargs):
    transport, attempts = refusing(times)
    conn = Connection(transport=transport)
    errors = []
    out = {}
    try:
        ret = conn.ensure_connection(
            lambda exc, interval: errors.append([type(exc).__name__, interval]),
            interval_start=0,
            interval_step=0,
            interval_max=0,
            **kwargs,
        )
    except OperationalError as exc:
        out["raised"] = "OperationalError"
        out["cause_kept"] = isinstance(exc.__cause__, ConnectionRefusedError)
    else:
        out["returned_self"] = ret is conn
        out["connected"] = conn.connected
    out["attempts"] = len(attempts)
    out["errback"] = errors
    conn.release()
    return out


result = {
    "recovers": attempt(2, max_retries=5),
    "gives_up": attempt(100, max_retries=2),
    "one_retry": attempt(1, max_retries=1),
}
