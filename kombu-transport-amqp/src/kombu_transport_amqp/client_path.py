"""Which py-amqp code path an ``amqp://`` connection takes: fast or public.

The fast path relies on py-amqp internals: it subclasses py-amqp's socket
transports and replaces ``TCPTransport.read_frame`` (buffered reads), passes
its own ``frame_handler`` to ``amqp.Connection`` and replaces
``Connection.blocking_read``. Those are not promised by py-amqp, so the fast
path is taken only for the versions it was tested with
(:data:`TESTED_RANGE`) and only when those internals are there. Otherwise the
connection keeps py-amqp's own transport, frame handler and
``blocking_read`` (one ``sendall`` per frame, py-amqp's reads); only the
frames this package encodes itself (publish, ack/reject/nack) are written
through the transport's ``write``.

The transport option ``client_fast_path`` forces the choice: ``True``
(fast path even outside the range; an error if the internals are missing),
``False`` (py-amqp's own path), ``"auto"`` (default).
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

import amqp
from amqp import transport as amqp_transport
from kombu.utils.options import auto_flag

__all__ = ("TESTED_RANGE", "in_tested_range", "missing_internals", "use_fast_path")

logger = logging.getLogger(__name__)

#: py-amqp versions the fast path is tested with: ``>=5.2,<5.5``.
TESTED_RANGE: tuple[tuple[int, ...], tuple[int, ...]] = ((5, 2), (5, 5))

_logged: set[tuple[str, bool]] = set()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def in_tested_range(version: str) -> bool:
    """Whether py-amqp ``version`` is inside :data:`TESTED_RANGE`."""
    low, high = TESTED_RANGE
    return low <= _version(version) < high


def missing_internals() -> list[str]:
    """The py-amqp internals the fast path needs that the installed py-amqp lacks."""
    missing = []
    tcp = getattr(amqp_transport, "TCPTransport", None)
    for name in ("read_frame", "having_timeout", "write", "connect"):
        if tcp is None or not callable(getattr(tcp, name, None)):
            missing.append(f"amqp.transport.TCPTransport.{name}")
    if not hasattr(amqp_transport, "SSLTransport"):
        missing.append("amqp.transport.SSLTransport")
    for name in ("blocking_read", "Transport"):
        if not callable(getattr(amqp.Connection, name, None)):
            missing.append(f"amqp.Connection.{name}")
    try:
        params = inspect.signature(amqp.Connection.__init__).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "frame_handler" not in params:
        missing.append("amqp.Connection(frame_handler=...)")
    return missing


def use_fast_path(option: Any = "auto", version: str | None = None) -> bool:
    """Decide the path for a new connection (logged once per outcome at debug level).

    Raises ``ValueError`` for a bad option and ``RuntimeError`` when the fast
    path is forced but the installed py-amqp lacks what it needs.
    """
    forced = auto_flag(option, "client_fast_path")
    version = amqp.__version__ if version is None else version
    missing = missing_internals()
    if forced is True:
        if missing:
            raise RuntimeError(f"client_fast_path=True, but py-amqp {version} lacks {', '.join(missing)}")
        fast, why = True, "forced by client_fast_path=True"
    elif forced is False:
        fast, why = False, "forced by client_fast_path=False"
    elif missing:
        fast, why = False, f"py-amqp lacks {', '.join(missing)}"
    elif not in_tested_range(version):
        fast, why = False, "outside the tested range >=5.2,<5.5"
    else:
        fast, why = True, "inside the tested range"
    if (version, fast) not in _logged:
        _logged.add((version, fast))
        logger.debug("amqp: py-amqp %s: %s path (%s)", version, "fast" if fast else "public", why)
    return fast
