"""Batched publishing: the context manager :meth:`kombu.Producer.batch` returns (Kombu 5.7's API)."""

from __future__ import annotations

# Like kombu.messaging: `typing` is for checkers only, not imported at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kombu.messaging import Producer

__all__ = ("PublishBatch",)


class _BatchState:
    """What nested :meth:`Producer.batch` contexts of one thread share.

    ``session`` is the transport's batch (``channel.create_publish_batch``)
    made on the first publish, or ``None`` while publishing immediately
    (the channel has no batch support).
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.session: Any = None
        self.immediate = False
        self.aborted = False

    def publish(self, channel: Any, message: Any, **kwargs: Any) -> Any:
        if self.aborted:
            raise RuntimeError("cannot publish through an aborted batch")
        session = self.session
        if session is None and not self.immediate:
            create = getattr(channel, "create_publish_batch", None)
            if create is None or not getattr(channel, "supports_batch_publish", True):
                self.immediate = True
            else:
                session = self.session = create(max_size=self.max_size)
        if session is None:
            return channel.basic_publish(message, **kwargs)
        if session.channel is not channel:
            raise RuntimeError("the producer's channel changed while a publish batch was active")
        return session.publish(message, **kwargs)

    def flush(self) -> None:
        if self.aborted:
            raise RuntimeError("cannot flush an aborted batch")
        if self.session is not None:
            self.session.flush()

    def abort(self) -> None:
        if not self.aborted:
            self.aborted = True
            if self.session is not None:
                self.session.discard()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


class PublishBatch:
    """The context manager :meth:`Producer.batch` returns (Kombu 5.7's API).

    Inside it, the producer's :meth:`~Producer.publish` calls of this thread
    go to the transport's batch (when the channel has one:
    ``create_publish_batch(max_size=)`` returning an object with
    ``channel``, ``publish``, ``flush``, ``discard`` and ``close``), else
    they are published at once. Nested contexts share the outermost one's
    batch. Leaving the outermost context normally flushes what is still
    buffered (an error doing so is raised); leaving any context with an
    exception discards what was not flushed yet: those messages were never
    sent, and the exception tells the caller so.
    """

    def __init__(self, producer: Producer, max_size: int) -> None:
        self.producer = producer
        self.max_size = max_size
        self.state: _BatchState | None = None
        self.outermost = False
        self.entered = False
        self.active = False

    def __enter__(self) -> PublishBatch:
        if self.entered:
            raise RuntimeError("a publish batch context cannot be re-entered")
        self.entered = self.active = True
        local = self.producer._batch_local
        if local is None:
            from threading import local as thread_local

            local = self.producer._batch_local = thread_local()
        state = getattr(local, "current", None)
        if state is None:
            state = local.current = _BatchState(self.max_size)
            self.outermost = True
        self.state = state
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        state = self.state
        if state is None:
            return
        error: BaseException | None = None
        try:
            if self.outermost:
                del self.producer._batch_local.current
            if exc_type is not None:
                state.abort()
            if self.outermost:
                try:
                    if exc_type is None and not state.aborted:
                        state.flush()
                finally:
                    state.close()
        except BaseException as cleanup:  # noqa: BLE001 - raised below unless one is in flight
            error = cleanup
        finally:
            self.active = False
        if exc_type is None and error is not None:
            raise error

    def flush(self) -> None:
        """Send what the batch holds now (inside the context only)."""
        if not self.active or self.state is None:
            raise RuntimeError("the publish batch context is not active")
        self.state.flush()
