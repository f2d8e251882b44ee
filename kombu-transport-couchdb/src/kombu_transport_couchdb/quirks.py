"""Where pouchdb-server (the stand-in the tests use) differs from CouchDB 3.x.

The transport is written to CouchDB's documented behaviour; each difference
met on pouchdb-server 4.2 is handled here, by name, and nowhere else.

``POUCHDB_NO_SELECTOR_FILTER``
    ``_changes?filter=_selector`` (CouchDB's selector filter) makes
    pouchdb-server look for a design document ``_design/_selector``, and a
    longpoll feed whose filter design document is missing *crashes the whole
    server*. The transport uses no selector: a consumer reads the feed
    unfiltered, a publisher with the built-in ``_doc_ids`` filter (:mod:`.watch`).
``POUCHDB_FEED_HEADERS_WITH_FIRST_LINE``
    A continuous feed's reply headers come with its first line (a change or a
    heartbeat), not when the request is taken. The watcher counts as
    following the feed once it has read the starting sequence, not once the
    headers arrive (:mod:`.watch`).
``POUCHDB_LONGPOLL_IGNORES_TIMEOUT``
    A longpoll feed with nothing to report never ends (``timeout=`` is
    ignored), and when the client gives up, the server keeps the listener
    until a matching change comes: abandoned longpolls pile up and slow every
    write. The transport holds one continuous feed with heartbeats per
    connection instead of longpolls (:mod:`.watch`).
``POUCHDB_GZIP_BUFFERS_FEEDS``
    With ``Accept-Encoding: gzip`` the feed reply is buffered; feeds are
    requested with ``Accept-Encoding: identity``.
``POUCHDB_FIND_SCANS_WHOLE_RANGE``
    Mango ``_find`` reads the whole index range before applying ``limit``
    (and races deletions with a 400 ``Cannot read properties of undefined``):
    a claim would cost O(queue depth), 350 ms at 3,000 messages. The
    transport claims through a view (``limit`` honoured by the index, 11 ms),
    on CouchDB as well, so the code that is tested is the code that runs.
``POUCHDB_WRONG_REV_DELETE_IS_404``
    A delete with a stale ``_rev`` answers 404 where CouchDB answers 409;
    both mean "not yours any more" (see :func:`lost_update`).
``POUCHDB_WRITES_SLOW_WITH_TOMBSTONES``
    Writes into a database with many deleted documents behind it are 2-3x
    slower than into a fresh one (in memory: 6-8 ms against 3 ms per ``PUT``
    after 86,000 updates), and an ``_all_docs`` range reads past the
    tombstones inside it (16 us each). Nothing to handle in the transport
    (its claims and counts use a view, which drops deleted documents); the
    raw benchmark baseline writes into the benchmark's own database.
"""

from __future__ import annotations

from typing import Any

__all__ = ("is_pouchdb", "lost_update", "FEED_HEADERS")

FEED_HEADERS = {"Accept-Encoding": "identity"}


def is_pouchdb(server_info: dict[str, Any]) -> bool:
    """Whether ``GET /`` came from pouchdb-server (``express-pouchdb`` or a PouchDB vendor)."""
    vendor = server_info.get("vendor") or {}
    name = str(vendor.get("name", "")) if isinstance(vendor, dict) else ""
    return "express-pouchdb" in server_info or "pouchdb" in name.lower()


def lost_update(result: dict[str, Any]) -> bool:
    """Whether a ``_bulk_docs`` result says the document changed under us or is gone.

    CouchDB answers ``conflict`` (409); ``POUCHDB_WRONG_REV_DELETE_IS_404``:
    pouchdb-server answers ``not_found`` for a delete with a stale revision.
    """
    return result.get("error") in ("conflict", "not_found")
