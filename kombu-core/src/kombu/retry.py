"""Retrying over broker failures: reconnecting with back-off and failover, re-running an operation.

These functions are :class:`~kombu.Connection`'s methods of the same names
(``Connection.ensure``, ``autoretry``, ``ensure_connection`` and the private
``_ensure_connection``, ``_reraise_as_library_errors``,
``_extract_failover_opts``); they live here because together they are one
idea, the retry policy, and take the connection as their first argument.

What they guarantee:

* A connection attempt that fails with one of the transport's recoverable
  connection errors is retried, moving to the next failover alternate
  after each failure, waiting ``interval_start`` seconds, then
  ``interval_step`` more each time up to ``interval_max`` (no wait while a
  cycle over several alternates is not complete), until ``max_retries``
  attempts (``None``: forever) or ``timeout`` seconds are spent.
* An operation wrapped by :func:`ensure` is called again after a
  recoverable connection error (on a new connection and channel, which the
  wrapped object is given through ``revive``) or a recoverable channel
  error (on a new channel); it is never called again after any other error.
* Nothing here runs while no error happens, except the ``connected`` check
  of :func:`connect`: a publish without ``retry`` never enters this module.

They call each other through the connection's methods, so a subclass of
``Connection`` that overrides one (``_ensure_connection``, say) changes
every path that uses it, as in Kombu 5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from itertools import count

from kombu import exceptions

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kombu.connection import Connection

__all__ = ("RETRY_POLICY_KEYS", "autoretry", "connect", "ensure", "ensure_connection", "reraise_as_library_errors")

#: ``ensure()`` options that are also :func:`connect`'s retry policy.
RETRY_POLICY_KEYS = ("errback", "max_retries", "interval_start", "interval_step", "interval_max")

#: Transport options that set the retry policy of opening a connection on first use.
_TRANSPORT_POLICY_KEYS = ("max_retries", "interval_start", "interval_step", "interval_max")


def connect(
    conn: Connection,
    errback: Callable[[BaseException, float], Any] | None = None,
    max_retries: int | None = None,
    interval_start: float = 2,
    interval_step: float = 2,
    interval_max: float = 30,
    callback: Callable[[], Any] | None = None,
    reraise_as_library_errors: bool = True,
    timeout: float | None = None,
) -> Any:
    """Return ``conn``'s open transport connection, opening it with retries if needed.

    ``errback(exc, interval)`` is called after each failed attempt (after
    switching to the next alternate), ``callback()`` while waiting. When the
    retries or ``timeout`` run out the last error is raised, as
    :class:`~kombu.exceptions.OperationalError` when
    ``reraise_as_library_errors``, else as the transport raised it.
    """
    if conn.connected:
        return conn._connection
    from kombu.utils.functional import retry_over_time

    def on_error(exc: BaseException, intervals: Iterator[float], retries: int) -> float:
        interval = next(intervals)
        conn.maybe_switch_next()
        if errback:
            errback(exc, interval)
        return 0 if conn.completes_cycle(retries) is False and len(conn.alt) > 1 else interval

    with conn._reraise_as_library_errors() if reraise_as_library_errors else nullcontext():
        return retry_over_time(
            conn._connection_factory,
            conn.recoverable_connection_errors,
            (),
            {},
            on_error,
            max_retries,
            interval_start,
            interval_step,
            interval_max,
            callback,
            timeout=timeout,
        )


def ensure_connection(conn: Connection, *args: Any, **kwargs: Any) -> Connection:
    """Open the connection, retrying with back-off; return the connection.

    Arguments (Kombu 5's, those of :func:`connect`): ``errback(exc, interval)``
    called before each retry, ``max_retries`` (``None``: forever),
    ``interval_start``, ``interval_step``, ``interval_max``, ``callback``
    (called while waiting), ``timeout`` (seconds in all). The last error is
    raised as :class:`~kombu.exceptions.OperationalError` when retries run out.
    """
    conn._ensure_connection(*args, **kwargs)
    return conn


def transport_policy(conn: Connection) -> dict[str, Any]:
    """The retry policy of a first connect: ``connect_timeout`` and the transport options' retry keys."""
    options = conn.transport_options
    policy: dict[str, Any] = {"timeout": conn.connect_timeout}
    for key in _TRANSPORT_POLICY_KEYS:
        if key in options:
            policy[key] = options[key]
    return policy


@contextmanager
def reraise_as_library_errors(
    conn: Connection,
    ConnectionError: type[BaseException] = exceptions.OperationalError,
    ChannelError: type[BaseException] = exceptions.OperationalError,
) -> Iterator[None]:
    """Raise ``conn``'s recoverable transport errors as Kombu's (password masked in the text)."""
    try:
        yield
    except (ConnectionError, ChannelError):
        raise
    except conn.recoverable_connection_errors as exc:
        raise ConnectionError(_sanitized(conn, exc)) from exc
    except conn.recoverable_channel_errors as exc:
        raise ChannelError(_sanitized(conn, exc)) from exc


def _sanitized(conn: Connection, exc: BaseException) -> str:
    text = str(exc)
    if conn.password:
        text = text.replace(conn.password, "**")
    return text


def ensure(
    conn: Connection,
    obj: Any,
    fun: Callable[..., Any],
    errback: Callable[[BaseException, float], Any] | None = None,
    max_retries: int | None = None,
    interval_start: float = 1,
    interval_step: float = 1,
    interval_max: float = 1,
    on_revive: Callable[[Any], Any] | None = None,
    retry_errors: tuple[type[BaseException], ...] | None = None,
) -> Callable[..., Any]:
    """Wrap ``fun`` so it is retried when the connection or channel fails.

    On a recoverable connection error the connection is reopened (with
    back-off per the ``interval_*`` arguments), ``obj.revive(channel)`` is
    called with a new channel, then ``fun`` is called again; on a
    recoverable channel error only the channel is replaced. An error in
    ``retry_errors`` retries ``fun`` as it is. After ``max_retries`` the
    error is raised.
    """
    if retry_errors is None:
        retry_errors = ()

    def _ensured(*args: Any, **kwargs: Any) -> Any:
        got_connection = 0
        conn_errors = conn.recoverable_connection_errors
        chan_errors = conn.recoverable_channel_errors
        has_modern_errors = hasattr(conn.transport, "recoverable_connection_errors")
        for retries in count(0):
            try:
                return fun(*args, **kwargs)
            except retry_errors as exc:
                if max_retries is not None and retries >= max_retries:
                    raise
                conn._debug("ensure retry policy error: %r", exc)
            except conn_errors as exc:
                if got_connection and not has_modern_errors:
                    raise
                if max_retries is not None and retries >= max_retries:
                    raise
                conn._debug("ensure connection error: %r", exc, exc_info=1)
                conn.collect()
                errback and errback(exc, 0)
                remaining_retries = None
                if max_retries is not None:
                    remaining_retries = max(max_retries - retries, 1)
                conn._ensure_connection(
                    errback,
                    remaining_retries,
                    interval_start,
                    interval_step,
                    interval_max,
                    reraise_as_library_errors=False,
                )
                channel = conn.channel()
                conn.revive(channel)
                obj.revive(channel)
                if on_revive:
                    on_revive(channel)
                got_connection += 1
            except chan_errors as exc:
                if max_retries is not None and retries > max_retries:
                    raise
                conn._debug("ensure channel error: %r", exc, exc_info=1)
                errback and errback(exc, 0)
                conn._default_channel = None
                channel = conn.default_channel
                obj.revive(channel)
                if on_revive:
                    on_revive(channel)

    _ensured.__name__ = f"{getattr(fun, '__name__', 'fun')}(ensured)"
    _ensured.__doc__ = fun.__doc__
    _ensured.__module__ = getattr(fun, "__module__", __name__)
    return _ensured


def autoretry(
    conn: Connection, fun: Callable[..., Any], channel: Any = None, **ensure_options: Any
) -> Callable[..., Any]:
    """Wrap ``fun(*args, channel=...)`` so it is retried on connection errors.

    The wrapper returns ``(result, channel)``; the channel is replaced
    when the connection was re-established. With no ``channel`` the first
    call connects per ``ensure_options``' retry policy and uses the
    connection's default channel.
    """
    channels = [channel]

    class Revival:
        __name__ = getattr(fun, "__name__", None)
        __module__ = getattr(fun, "__module__", None)  # type: ignore[assignment]
        __doc__ = getattr(fun, "__doc__", None)

        def __init__(self, connection: Connection) -> None:
            self.connection = connection

        def revive(self, channel: Any) -> None:
            channels[0] = channel

        def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            # Read the channel on every attempt: ensure() revives it.
            if channels[0] is None:
                # The first connect follows this call's retry policy (errback once
                # per failed attempt, max_retries), not only the transport options'.
                policy = self.connection._extract_failover_opts()
                policy.update((key, ensure_options[key]) for key in RETRY_POLICY_KEYS if key in ensure_options)
                self.connection._ensure_connection(**policy)
                self.revive(self.connection.default_channel)
            return fun(*args, channel=channels[0], **kwargs), channels[0]

    revival = Revival(conn)
    return ensure(conn, revival, revival, **ensure_options)
