"""The event loop: :class:`Hub`, plus :func:`get_event_loop` / :func:`set_event_loop`.

A hub multiplexes file descriptors (readers and writers), a
:class:`~kombu.asynchronous.timer.Timer`, callbacks queued with
:meth:`Hub.call_soon`, and ``on_tick`` callbacks run every iteration.

A transport that can be driven by a hub implements
``register_with_event_loop(connection, loop)``: it registers its sockets with
:meth:`Hub.add_reader` (the callback then reads and dispatches messages) or,
for a transport without a socket, schedules a poll with
:meth:`Hub.call_repeatedly` or adds an ``on_tick`` callback.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from contextlib import suppress
from queue import Empty
from types import GeneratorType
from typing import Any

from kombu.utils.compat import fileno
from kombu.utils.eventio import ERR, READ, WRITE, poll

from .timer import Entry, Timer

__all__ = ("Hub", "Stop", "get_event_loop", "set_event_loop")

logger = logging.getLogger(__name__)

_current_loop: Hub | None = None


class Stop(BaseException):
    """Raised inside the loop to make :meth:`Hub.run_forever` return."""


def get_event_loop() -> Hub | None:
    """Return the event loop set with :func:`set_event_loop`, or ``None``."""
    return _current_loop


def set_event_loop(loop: Hub | None) -> Hub | None:
    """Make ``loop`` the current event loop; return it."""
    global _current_loop
    _current_loop = loop
    return loop


class _Call:
    """A callback queued with :meth:`Hub.call_soon`; :meth:`cancel` drops it."""

    __slots__ = ("args", "cancelled", "fun")

    def __init__(self, fun: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fun = fun
        self.args = args
        self.cancelled = False

    def __call__(self) -> Any:
        if not self.cancelled:
            return self.fun(*self.args)
        return None

    def cancel(self) -> None:
        """Do not run this callback."""
        self.cancelled = True

    def __repr__(self) -> str:
        return f"<call_soon: {getattr(self.fun, '__qualname__', self.fun)!r}{self.args!r}>"


def _is_thenable(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, "then") and hasattr(obj, "cancel")


def _raise_stop() -> None:
    raise Stop()


class _Waker:
    """A socket pair another thread writes to, to wake the loop out of ``poll``."""

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self.pid = os.getpid()

    def fileno(self) -> int:
        return self.reader.fileno()

    def wake(self) -> None:
        with suppress(OSError):  # full (a wakeup is pending anyway) or closed
            self.writer.send(b"\0")

    def drain(self) -> None:
        with suppress(OSError):
            while self.reader.recv(4096):
                pass

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class Hub:
    """An event loop over file descriptors, a timer and ready callbacks.

    Reader and writer callbacks are called with the ``*args`` they were added
    with; a generator given as callback is advanced one step per event
    instead (and the descriptor removed if it fails). One iteration
    (:meth:`run_once`) runs, in Kombu's order, the callbacks queued with
    :meth:`call_soon`, the timers that are due, the ``on_tick`` callbacks,
    then waits for descriptor events (at most until the next timer, not at
    all when a callback is ready) and dispatches them. Timers fire before
    ``on_tick`` so that work a due timer hands over (Celery's ETA tasks
    reaching the pool) is picked up in the same iteration. Errors from timers are logged; errors from callbacks
    propagate out of :meth:`run_once`/:meth:`run_forever`, except
    :class:`queue.Empty`, which a reader may raise when there was nothing to read.

    :meth:`call_soon` and :meth:`stop` may be called from any thread: they
    wake the loop if it is waiting for events.
    """

    READ, WRITE, ERR = READ, WRITE, ERR

    def __init__(self, timer: Timer | None = None) -> None:
        self.timer = timer if timer is not None else Timer()
        self.readers: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self.writers: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self.on_tick: set[Callable[[], Any]] = set()
        self.on_close: set[Callable[[Hub], Any]] = set()
        self._ready: deque[Callable[[], Any]] = deque()
        self._poller: Any = None
        self._loop: Generator[None, None, None] | None = None
        self._running = False
        self._scheduler: Any = None
        #: Exceptions from timers that propagate instead of being logged.
        self.propagate_errors: tuple[type[BaseException], ...] = ()
        #: Descriptors added with ``consolidate=True``: their events (read,
        #: write or error) are collected per iteration and passed together to
        #: :attr:`consolidate_callback` (a list of descriptors), unless a
        #: writer callback was added for the descriptor since.
        self.consolidate: set[int] = set()
        self.consolidate_callback: Callable[[list[int]], Any] | None = None
        self._ready_lock = threading.Lock()
        self._wake_pending = False
        self._loop_thread: int | None = None
        self._waker: _Waker | None = None
        self._waker_poller: Any = None

    # -- descriptors -------------------------------------------------------

    @property
    def poller(self) -> Any:
        """The underlying :func:`kombu.utils.eventio.poll` object, created on first use."""
        if self._poller is None:
            self._poller = poll()
        return self._poller

    @poller.setter
    def poller(self, value: Any) -> None:
        self._poller = value

    def _flags(self, fd: int) -> int:
        flags = 0
        if fd in self.readers:
            flags |= READ | ERR
        if fd in self.writers:
            flags |= WRITE
        return flags

    def _update(self, fd: int) -> None:
        flags = self._flags(fd)
        if flags:
            self.poller.register(fd, flags)
        elif self._poller is not None:
            self._poller.unregister(fd)

    def add(
        self, fd: Any, callback: Callable[..., Any], flags: int, args: tuple[Any, ...] = (), consolidate: bool = False
    ) -> None:
        """Call ``callback(*args)`` when ``fd`` has an event in ``flags``.

        ``fd`` is a descriptor, an object with ``fileno()``, or a list of them
        (each is added). With ``consolidate`` the events of such descriptors
        are handed together to :attr:`consolidate_callback` instead, and
        ``callback`` may be ``None`` (Celery's prefork pool adds its worker
        pipes with ``hub.add(fd, None, WRITE | ERR, consolidate=True)``).
        """
        if isinstance(fd, Iterable) and not isinstance(fd, (str, bytes)):
            for one in fd:
                self.add(one, callback, flags, args, consolidate)
            return
        fd = fileno(fd)
        if consolidate:
            self.consolidate.add(fd)
        if flags & READ:
            self.readers[fd] = (callback, args)
        if flags & WRITE:
            self.writers[fd] = (callback, args)
        try:
            self._update(fd)
        except (ValueError, OSError):
            self.remove(fd)
            raise

    def add_reader(self, fds: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fds`` is readable (or has an error)."""
        self.add(fds, callback, READ | ERR, args)

    def add_writer(self, fds: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fds`` is writable."""
        self.add(fds, callback, WRITE, args)

    def remove(self, fd: Any) -> None:
        """Stop watching ``fd`` for anything."""
        try:
            fd = fileno(fd)
        except (AttributeError, ValueError, OSError):
            return
        self.readers.pop(fd, None)
        self.writers.pop(fd, None)
        self.consolidate.discard(fd)
        if self._poller is not None:
            self._poller.unregister(fd)

    def remove_reader(self, fd: Any) -> None:
        """Stop watching ``fd`` for reading (a writer on it stays)."""
        fd = fileno(fd)
        self.readers.pop(fd, None)
        self._update(fd)

    def remove_writer(self, fd: Any) -> None:
        """Stop watching ``fd`` for writing (a reader on it stays)."""
        fd = fileno(fd)
        self.writers.pop(fd, None)
        self._update(fd)

    # -- callbacks and timers ------------------------------------------------

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Any:
        """Run ``callback(*args)`` on the next iteration; returns a handle with ``cancel()``.

        Safe from any thread: a loop waiting for events is woken up. A
        promise (anything with ``then`` and ``cancel``, like vine's) given
        without arguments is queued and returned as it is, as in Kombu:
        Celery's prefork pool picks its ack promises out of
        :meth:`_pop_ready` by their ``fun``.
        """
        call: Any = callback if not args and _is_thenable(callback) else _Call(callback, args)
        with self._ready_lock:
            self._ready.append(call)
            wake = not self._wake_pending and threading.get_ident() != self._loop_thread
            if wake:
                self._wake_pending = True
        if wake and self._waker is not None:
            self._waker.wake()
        return call

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Entry:
        """Run ``callback(*args)`` after ``delay`` seconds; returns the timer entry."""
        return self.timer.call_after(delay, callback, args)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Entry:
        """Run ``callback(*args)`` at monotonic time ``when``; returns the timer entry."""
        return self.timer.call_at(when, callback, args)

    def call_repeatedly(self, delay: float, callback: Callable[..., Any], *args: Any) -> Entry:
        """Run ``callback(*args)`` every ``delay`` seconds until the returned entry is canceled."""
        return self.timer.call_repeatedly(delay, callback, args)

    @property
    def scheduler(self) -> Any:
        """The iterator over :attr:`timer` used to fire timers."""
        if self._scheduler is None:
            self._scheduler = iter(self.timer)
        return self._scheduler

    def fire_timers(
        self,
        min_delay: float = 1,
        max_delay: float = 10,
        max_timers: int = 10,
        propagate: tuple[type[BaseException], ...] = (),
    ) -> float:
        """Run up to ``max_timers`` due timers; return how long the loop may wait for events.

        Errors from timers are logged unless their type is in ``propagate``.
        """
        delay: float | None = None
        if self.timer._queue:
            for _ in range(max_timers):
                delay, entry = next(self.scheduler)
                if entry is None:
                    break
                delay = 0  # more may be due: do not wait for events
                try:
                    entry()
                except propagate:
                    raise
                except (MemoryError, AssertionError):
                    raise
                except OSError as exc:
                    if exc.errno == errno.ENOMEM:
                        raise
                    logger.exception("Error in timer")
                except Exception:
                    logger.exception("Error in timer")
        if delay is None:
            delay = min_delay
        return min(delay, max_delay)

    # -- the loop ----------------------------------------------------------

    def _pop_ready(self) -> deque[Callable[[], Any]]:
        with self._ready_lock:
            ready, self._ready = self._ready, deque()
        return ready

    def _run_ready(self) -> None:
        ready = self._pop_ready()
        try:
            while ready:
                ready.popleft()()
        finally:
            if ready:  # a callback raised: keep the rest for the next iteration
                with self._ready_lock:
                    ready.extend(self._ready)
                    self._ready = ready

    def _ensure_waker(self) -> _Waker:
        waker = self._waker
        if waker is None or waker.pid != os.getpid() or self._waker_poller is not self.poller:
            if waker is not None:
                with suppress(OSError, ValueError, KeyError):
                    if self._waker_poller is not None:
                        self._waker_poller.unregister(waker.fileno())
                waker.close()
            waker = self._waker = _Waker()
            self.poller.register(waker.fileno(), READ)
            self._waker_poller = self.poller
            with self._ready_lock:
                self._wake_pending = False
        return waker

    def _on_wakeup(self, waker: _Waker) -> None:
        waker.drain()
        with self._ready_lock:
            self._wake_pending = False

    def on_callback_error(self, callback: Any, exc: BaseException) -> None:
        """Log an error raised by ``callback`` (for callers that catch callback errors)."""
        logger.error("Callback %r raised exception: %r", callback, exc, exc_info=exc)

    def _consolidated(self, fd: int) -> bool:
        """Whether ``fd``'s events go to :attr:`consolidate_callback` (no writer callback of its own)."""
        if fd not in self.consolidate:
            return False
        writer = self.writers.get(fd)
        return writer is None or writer[0] is None

    def _dispatch(self, fd: int, event: int) -> None:
        reader = self.readers.get(fd) if event & (READ | ERR) else None
        writer = self.writers.get(fd) if event & WRITE else None
        if reader is None and writer is None and event & ERR:
            writer = self.writers.get(fd)
        if reader is None and writer is None:
            self.remove(fd)
            return
        for handler in (reader, writer):
            if handler is not None and handler[0] is not None:
                callback, args = handler
                if isinstance(callback, GeneratorType):
                    try:
                        next(callback)
                    except StopIteration:
                        pass
                    except OSError as exc:
                        if exc.errno != errno.EBADF:
                            self.remove(fd)
                            raise
                        self.remove(fd)
                    except Exception:
                        self.remove(fd)
                        raise
                    continue
                try:
                    callback(*args)
                except Empty:
                    pass

    def create_loop(self) -> Generator[None, None, None]:
        """Return the generator behind :meth:`run_once`: each ``next()`` is one iteration."""
        self._loop_thread = threading.get_ident()
        while True:
            waker = self._ensure_waker()
            waker_fd = waker.fileno()
            if self._ready:
                self._run_ready()
            poll_timeout = self.fire_timers(propagate=self.propagate_errors) if self.timer._queue else 1.0
            for tick in list(self.on_tick):
                tick()
            if self._ready:
                poll_timeout = 0
            to_consolidate: list[int] = []
            for fd, event in self.poller.poll(poll_timeout) or ():
                if fd == waker_fd:
                    self._on_wakeup(waker)
                    continue
                if self._consolidated(fd):
                    to_consolidate.append(fd)
                    continue
                self._dispatch(fd, event)
            if to_consolidate and self.consolidate_callback is not None:
                self.consolidate_callback(to_consolidate)
            yield

    @property
    def loop(self) -> Generator[None, None, None]:
        """The loop generator, created on first use."""
        if self._loop is None:
            self._loop = self.create_loop()
        return self._loop

    def run_once(self) -> None:
        """Run one iteration of the loop."""
        try:
            next(self.loop)
        except StopIteration:
            self._loop = None
        except BaseException:
            # The generator is finished once anything escapes it: start afresh next time.
            self._loop = None
            raise

    def run_forever(self) -> None:
        """Run iterations until :meth:`stop` is called (or a callback raises)."""
        self._running = True
        try:
            while True:
                try:
                    self.run_once()
                except Stop:
                    break
        finally:
            self._running = False

    def stop(self) -> None:
        """Make :meth:`run_forever` return after the current iteration's ready callbacks."""
        self.call_soon(_raise_stop)

    def reset(self) -> None:
        """Close the poller and forget every descriptor, timer and callback."""
        self.close()
        self.timer.clear()
        self._scheduler = None

    def close(self, *args: Any) -> None:
        """Release every descriptor, run the ``on_close`` callbacks, then the pending ``call_soon`` callbacks.

        Pending callbacks run once, so work already scheduled (an ack, for
        example) is not dropped; callbacks they schedule in turn are not run.
        """
        for fd in list(self.readers) + list(self.writers):
            self.remove(fd)
        self.consolidate.clear()
        self.on_tick.clear()
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        for callback in list(self.on_close):
            callback(self)
        self.on_close.clear()
        for call in self._pop_ready():
            call()
        if self._waker is not None:
            self._waker.close()
            self._waker = None
            self._waker_poller = None
        self._loop = None
        if _current_loop is self:
            set_event_loop(None)

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def repr_active(self) -> str:
        """Describe the watched descriptors and their callbacks, for debugging."""
        from .debug import repr_active

        return repr_active(self)

    def repr_events(self, events: list[tuple[int, int]]) -> str:
        """Describe poll results ``[(fd, events), ...]``, for debugging."""
        from .debug import repr_events

        return repr_events(self, events)

    def _callback_for(self, fd: Any, flag: int, *default: Any) -> Any:
        from .debug import callback_for

        return callback_for(self, fileno(fd), flag, *default)

    def __repr__(self) -> str:
        return f"<Hub@{id(self):#x}: R:{len(self.readers)} W:{len(self.writers)}>"
