"""What the stand-in server (moto 5.2.5) does differently from Amazon SQS.

Each quirk met while building the transport is named here, with what the
transport does about it; the rest of the code follows AWS's documented
behaviour.

* ``CONNECTION_CLOSE``: moto's HTTP server answers every request with
  ``Connection: close``, so each API call opens a new TCP connection.
  Nothing to do; it makes calls slower than on AWS (for Kombu 5.7 too) and
  it means a cut TCP connection is never noticed by the client.
* ``STALE_RECEIPT_DELETE``: deleting with a receipt handle of an earlier
  receive succeeds (AWS does too within the message's life); acks of a
  message that was meanwhile redelivered are therefore silent.
* ``PURGE_ONCE_A_MINUTE``: ``PurgeQueue`` is refused a second time within
  60 s (as on AWS). ``queue_purge`` therefore receives and deletes the
  ready messages instead (which is also AMQP's meaning: in-flight messages
  are not purged).
"""

from __future__ import annotations

__all__ = ("CONNECTION_CLOSE", "STALE_RECEIPT_DELETE", "PURGE_ONCE_A_MINUTE")

CONNECTION_CLOSE = "moto closes the HTTP connection after every response"
STALE_RECEIPT_DELETE = "DeleteMessage with a stale receipt handle succeeds"
PURGE_ONCE_A_MINUTE = "PurgeQueue is allowed once per 60 s per queue"
