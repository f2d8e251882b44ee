"""Event loop and callback-driven helpers (:class:`Hub`, timers, semaphores)."""

from __future__ import annotations

from kombu.utils.eventio import ERR, READ, WRITE

from .hub import Hub, get_event_loop, set_event_loop

__all__ = ("ERR", "READ", "WRITE", "Hub", "get_event_loop", "set_event_loop")
