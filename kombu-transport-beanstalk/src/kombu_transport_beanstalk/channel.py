"""The beanstalk channel: a tube per queue, a job per message, TTR as the lease.

Storage primitives of the core's virtual engine over one beanstalkd
connection (:class:`~.link.Link`) per channel:

- publish: ``put`` into the queue's tube (priority and delay native);
- consume: ``reserve`` from every consumed tube at once; the job stays
  reserved by this channel's connection until the application acks
  (``delete``), rejects (``delete``, or ``bury`` for queues that keep
  rejected messages) or requeues (``release`` with its priority, no delay);
- leases: a :class:`~kombu.transport.virtual.lease.LeaseKeeper` thread
  ``touch``-es the held jobs every third of the TTR, so a slow but live
  consumer keeps them; a dead one's jobs go back to ready when its
  connection closes (beanstalkd does that itself) or, if the network just
  vanished, when the TTR runs out;
- size from ``stats-tube`` (ready + delayed), purge deletes ready, delayed
  and buried jobs.

The job body is the envelope as JSON with the queue name added (``"queue"``),
so a job reserved from several watched tubes says where it came from; an
envelope without it (written by Kombu 3's beanstalk transport) is read too,
its queue asked from the server. A job that is not such JSON (put by another
beanstalkd client) is delivered as a raw binary message
(``application/data``), never dropped.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from queue import Empty
from typing import TYPE_CHECKING, Any

import greenstalk
from kombu.transport import virtual
from kombu.transport.virtual.enforcement import DEAD_BUDGET
from kombu.transport.virtual.lease import LeaseKeeper

from .link import Link
from .names import queue_for, tube_for
from .protocol import MIN_TTR, beanstalk_priority, whole_seconds

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Channel", "QoS", "BURY_REJECTED_ARGUMENT", "DELAY_PROPERTY", "TTR_PROPERTY")

logger = logging.getLogger(__name__)

#: Queue argument: rejected (not requeued) messages of this queue are buried, not deleted.
BURY_REJECTED_ARGUMENT = "x-beanstalk-bury-rejected"

#: Message property: seconds before the job becomes ready (beanstalkd's ``delay``).
DELAY_PROPERTY = "delay"

#: Message property: this message's TTR in seconds (as Kombu 3's beanstalk transport read it).
TTR_PROPERTY = "ttr"

_dumps = json.dumps
_loads = json.loads


class QoS(virtual.QoS):
    """The engine's prefetch and acks; the channel's hooks delete, bury or release the jobs."""

    channel: Channel


class Channel(virtual.Channel):
    """A channel on one beanstalkd connection."""

    QoS = QoS
    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._link: Link | None = None
        #: Reserved jobs not yet handed to a consumer: (payload, queue).
        self._pending: deque[tuple[dict[str, Any], str]] = deque()
        #: Every job this channel holds reserved: job id -> (link, beanstalkd priority).
        self._jobs: dict[int, tuple[Link, int]] = {}
        self._lease: LeaseKeeper | None = None
        #: The learned reserve round size, and whether the last round was empty (see :meth:`_window`).
        self._batch = 1
        self._probing = False

    # -- the connection ---------------------------------------------------------------
    @property
    def link(self) -> Link:
        """This channel's beanstalkd connection (opened on first use, again after a loss)."""
        link = self._link
        if link is None or link.closed:
            if link is not None:
                self._forget_link(link)
            link = self._link = self.connection._new_link()
        return link

    def _forget_link(self, lost: Link) -> None:
        """Drop the undelivered jobs of a lost connection: the server made them ready again."""
        self._pending = deque(
            item
            for item in self._pending
            if self._jobs.get(item[0]["properties"]["delivery_tag"], (lost,))[0] is not lost
        )
        for job_id in [
            job_id
            for job_id, held in self._jobs.items()
            if held[0] is lost and (self._qos is None or job_id not in self._qos._delivered)
        ]:
            del self._jobs[job_id]

    # -- declarations -----------------------------------------------------------------
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        tube_for(queue)  # refuses a name beanstalkd cannot hold
        arguments = kwargs.get("arguments") or {}
        registry = self.connection.registry
        registry.queues.add(queue)
        if arguments.get(BURY_REJECTED_ARGUMENT):
            registry.bury_rejected.add(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        if queue in self.connection.registry.queues:
            return True
        stats = self.link.stats_tube(tube_for(queue))
        if stats is None:
            return False
        return any(stats.get(f"current-jobs-{state}", 0) for state in ("ready", "delayed", "buried", "reserved"))

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if args:
            return  # called once per binding first; the queue itself goes once, below
        self._purge(queue)
        registry = self.connection.registry
        registry.queues.discard(queue)
        registry.bury_rejected.discard(queue)

    def _purge(self, queue: str) -> int:
        return self.link.purge(tube_for(queue))

    def _size(self, queue: str) -> int:
        stats = self.link.stats_tube(tube_for(queue))
        if stats is None:
            return 0
        return int(stats["current-jobs-ready"]) + int(stats["current-jobs-delayed"])

    # -- publishing -------------------------------------------------------------------
    def _next_delivery_tag(self) -> None:
        return None  # a delivery's tag is its job id, set when reserved

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        props = message["properties"]
        delay = 0
        if not message.get("redelivered"):
            requested = props.get(DELAY_PROPERTY)
            if requested:
                delay = whole_seconds(float(requested))
        ttr = props.get(TTR_PROPERTY)
        ttr = self.connection.ttr if ttr is None else max(MIN_TTR, whole_seconds(float(ttr)))
        body = _dumps({**message, "queue": queue}).encode()
        self.link.put(tube_for(queue), body, beanstalk_priority(props.get("priority")), delay, ttr)

    # -- consuming --------------------------------------------------------------------
    def _decode(self, job: greenstalk.Job[bytes], link: Link) -> tuple[dict[str, Any], str]:
        """The envelope of ``job`` and the queue it came from; registers the job as held."""
        try:
            payload = _loads(job.body)
            queue = payload.pop("queue", None)
            properties = payload["properties"]
            if not isinstance(properties, dict) or not isinstance(queue, (str, type(None))):
                raise TypeError("not a kombu envelope")
            if queue is None:  # an envelope of Kombu 3's beanstalk transport: ask the server
                queue = queue_for(link.job_tube(job.id) or "")
        except (ValueError, TypeError, KeyError, AttributeError):
            payload, queue = self._foreign(job, link)
            properties = payload["properties"]
        properties["delivery_tag"] = job.id
        properties.setdefault("delivery_info", {})
        self._jobs[job.id] = (link, beanstalk_priority(properties.get("priority")))
        if self._lease is None:
            self._start_lease()
        return payload, queue

    def _foreign(self, job: greenstalk.Job[bytes], link: Link) -> tuple[dict[str, Any], str]:
        """A job put by another beanstalkd client: a raw binary message."""
        tube = link.job_tube(job.id) or ""
        queue = queue_for(tube)
        payload = {
            "body": self.encode_body(job.body, self.body_encoding)[0],
            "content-type": "application/data",
            "content-encoding": "binary",
            "headers": {},
            "properties": {
                "body_encoding": self.body_encoding,
                "priority": 0,
                "delivery_info": {"exchange": "", "routing_key": queue},
            },
        }
        return payload, queue

    def _reserve(self, queues: Sequence[str], timeout: int, count: int = 1) -> list[tuple[dict[str, Any], str]]:
        """Reserve up to ``count`` jobs of ``queues``, waiting ``timeout`` whole seconds for the first."""
        link = self.link
        try:
            jobs = link.reserve_many([tube_for(q) for q in queues], count, timeout)
        except greenstalk.DeadlineSoonError:
            self._renew_leases(self._lease_messages())
            return []
        return [self._decode(job, link) for job in jobs]

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        got = self._reserve((queue,), 0)
        if not got:
            raise Empty()
        return got[0][0]

    def can_wait(self) -> bool:
        """Whether a blocking reserve makes sense: queues consumed, prefetch room, nothing pending."""
        return bool(self._active_queues) and not self._pending and (self._qos is None or self._qos.can_consume())

    def wait_for_job(self, timeout: int) -> bool:
        """Block up to ``timeout`` whole seconds for a job of a consumed queue; keep it for delivery."""
        if not self.can_wait():
            return bool(self._pending)
        return self._fill(timeout) > 0

    def deliver_one(self) -> bool:
        """Reserve (or take a pending) job of a consumed queue and deliver it; whether it did.

        Jobs past their TTL are dead-lettered or dropped on the way (the
        engine's ``_try_deliver``); ``True`` then means progress was made.
        """
        if not self._active_queues or (self._qos is not None and not self._qos.can_consume()):
            return False
        for _ in range(DEAD_BUDGET):
            if not self._pending and not self._fill(0):
                return False
            payload, queue = self._pending.popleft()
            # A no_ack consumer's job is settled (deleted) by the engine before its callback runs.
            if self._try_deliver(payload, queue):
                return True
            # past its TTL: dead-lettered or dropped by the engine; try the next one
            if self._qos is not None and not self._qos.can_consume():
                break
        return True

    def _window(self) -> int:
        """How many jobs the next reserve round asks for.

        At most the prefetch room and ``reserve_batch``: the learned round
        size, which doubles while rounds come back full; after an empty round
        (the queues ran dry) one job, until jobs come again. So an idle
        consumer's poll is one command and a busy one reserves in bulk.
        """
        room = self._qos.can_consume_max_estimate() if self._qos is not None else None
        batch = 1 if self._probing else min(self._batch, self.connection.reserve_batch)
        return batch if room is None else max(1, min(room, batch))

    def _fill(self, timeout: int) -> int:
        """Reserve a round of jobs of the consumed queues into ``_pending``; how many came."""
        asked = self._window()
        got = self._reserve(self._active_queues, timeout, asked)
        self._pending.extend(got)
        if not got:
            self._probing = True
        elif self._probing:
            self._probing = False  # jobs again: back to the learned size
        elif len(got) >= asked:
            self._batch = min(asked * 2, self.connection.reserve_batch)
        return len(got)

    # -- settling held jobs -----------------------------------------------------------
    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """An ack deletes the job; a rejected one is deleted, or buried where ``bury_rejected`` says."""
        for message in messages:
            if rejected:
                self._drop_rejected(message)
            else:
                self._delete_job(message.delivery_tag)

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Release the held jobs to ready with their priority (first among their priority)."""
        for message in messages:
            self._restore(message)

    def _delete_job(self, job_id: Any) -> None:
        held = self._jobs.pop(job_id, None)
        if held is None:
            return
        link = held[0]
        if link.closed:
            logger.warning(
                "beanstalk: ack of job %s after its connection was lost; "
                "the server has made it ready again (it will be redelivered)",
                job_id,
            )
            return
        if self.connection.delivering:
            link.defer_delete(job_id)  # sent with the next reserve, or when the drain ends
            return
        try:
            link.delete(job_id)
        except greenstalk.NotFoundError:
            logger.warning(
                "beanstalk: ack of job %s that this connection no longer holds "
                "(its TTR ran out; it may be delivered again)",
                job_id,
            )

    def _release_job(self, job_id: Any) -> bool:
        """Put a held job back to ready with its priority; whether this channel held it."""
        held = self._jobs.pop(job_id, None)
        if held is None:
            return False
        link, priority = held
        if not link.closed:
            try:
                link.release(job_id, priority)
            except greenstalk.NotFoundError:
                pass  # its TTR ran out: it is ready again already
        return True

    def _drop_rejected(self, message: virtual.Message) -> None:
        job_id = message.delivery_tag
        if message.queue in self.connection.bury_rejected_for():
            held = self._jobs.pop(job_id, None)
            if held is not None and not held[0].closed:
                try:
                    held[0].bury(job_id, held[1])
                except greenstalk.NotFoundError:
                    pass
            return
        self._delete_job(job_id)

    def _restore(self, message: virtual.Message) -> None:
        if self._release_job(message.delivery_tag):
            return
        owner = self.connection._owner_of(message.delivery_tag)
        if owner is not None and owner._release_job(message.delivery_tag):
            return
        super()._restore(message)  # not a held job: put it back as a new one

    def _restore_at_beginning(self, message: virtual.Message) -> None:
        # A released job keeps its id, so among jobs of its priority it comes first.
        self._restore(message)

    # -- leases -----------------------------------------------------------------------
    def _start_lease(self) -> None:
        self._lease = LeaseKeeper(
            self, self.connection.lease_interval, name=f"kombu-beanstalk-lease-{self.channel_id}"
        ).start()

    def _lease_messages(self) -> list[int]:
        link = self._link
        deferred = link._deferred if link is not None else ()
        return list(tuple(self._jobs)) + list(tuple(deferred))

    def _renew_leases(self, messages: Iterable[Any]) -> None:
        """Touch the held jobs and send deferred acks (lease thread, and on ``DEADLINE_SOON``)."""
        link = self._link
        if link is None or link.closed:
            return
        ids = [job_id for job_id in messages if self._jobs.get(job_id, (None,))[0] is link]
        if ids:
            link.touch(ids)  # sends the deferred acks first
        else:
            link.flush()

    def _forget_after_fork(self) -> None:
        self._link = None
        self._lease = None
        self._pending.clear()
        self._jobs.clear()
        if self._qos is not None:
            self._qos._delivered.clear()

    # -- closing ----------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        pending, self._pending = self._pending, deque()
        try:
            super().close()
            for payload, _queue in pending:
                self._release_job(payload["properties"]["delivery_tag"])
        except self.connection.connection_errors:
            pass  # the server releases what the lost connection held
        finally:
            if self._lease is not None:
                self._lease.stop(timeout=1.0)
                self._lease = None
            self._jobs.clear()
            if self._link is not None:
                self._link.close()
