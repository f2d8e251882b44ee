"""Access to RabbitMQ's management API for a connection (via ``pyrabbit``, if installed)."""

from __future__ import annotations

from typing import Any

__all__ = ("get_manager",)


def get_manager(
    client: Any,
    hostname: str | None = None,
    port: int | str | None = None,
    userid: str | None = None,
    password: str | None = None,
) -> Any:
    """Return a ``pyrabbit.Client`` for the management API of ``client``'s broker.

    Unset arguments come from the connection's ``manager_*`` transport
    options, then from the connection itself (management port 15672).
    Raises ``ImportError`` if ``pyrabbit`` is not installed.
    """
    import pyrabbit  # type: ignore[import-not-found, unused-ignore]

    opt = client.transport_options.get

    def get(name: str, val: Any, default: Any) -> Any:
        return val if val is not None else opt("manager_" + name) or getattr(client, name, None) or default

    host = get("hostname", hostname, "localhost")
    port = port if port is not None else opt("manager_port", 15672)
    userid = get("userid", userid, "guest")
    password = get("password", password, "guest")
    return pyrabbit.Client(f"{host}:{port}", userid, password)
