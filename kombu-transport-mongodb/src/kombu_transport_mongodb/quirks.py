"""Server differences met on MongoDB-compatible servers, detected, never assumed.

The transport is written to MongoDB's documented behaviour. Where a
wire-compatible server (the tests' nx-27017, a MongoDB wire-protocol server
over SQLite) differs, the difference is handled here and only here, by
feature detection (never by reading version strings):

``ID_IN_COMPOUND_INDEX``
    MongoDB indexes ``{queue: 1, priority: 1, _id: 1}`` (Kombu 5.7's index,
    which serves the claim sort exactly). nx-27017 0.8.1 accepts that index
    but then fails every insert ("JSON path error near '_id'"). Detected once
    per database on a scratch collection; without it the index is
    ``{queue: 1, priority: 1}``.
``DOTTED_NAMES``
    MongoDB allows dots in collection names (Kombu 5.7's defaults are
    ``messages.routing``, ``messages.queues``); nx-27017 0.8.1 rejects any
    name that is not ``[A-Za-z_][A-Za-z0-9_]*`` ("Invalid identifier").
    Detected once per database by an insert into a scratch collection; then
    every ``.`` in a collection name becomes ``_`` (``messages_routing``), and
    a Kombu 5.7 peer must be given the same names through its
    ``routing_collection``/``queues_collection`` options.
``DATES``
    nx-27017 stores ``datetime`` values as strings, so range queries on them
    fail silently. The transport stores every time as epoch seconds
    (floats); this is kept as a note, no detection is needed.
``FLOAT_EQUALITY``
    nx-27017 0.8.1 returns a stored float exactly but an equality filter on
    it (``{lease: <the same float>}``) matches nothing; ranges work. The
    transport never filters on float equality; a note, no detection.
``BOOLEANS``
    nx-27017 returns ``True`` set with ``$set`` as ``1``: flags are read
    with ``bool()``.
``NO_SERVER_VERSION``
    nx-27017 answers ``buildInfo`` without ``version`` (why Kombu 5.7's
    transport fails on it with ``KeyError``); nothing here reads it.
``NO_TAILABLE_CURSORS``
    Capped collections are not capped and tailable cursors end after one
    batch: fanout is a copy per bound queue, never a capped collection.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ("supports_id_in_compound_index", "supports_dotted_names")

logger = logging.getLogger(__name__)

_probed: dict[tuple[str, str], bool] = {}
_lock = threading.Lock()


def supports_id_in_compound_index(database: Any, key: tuple[str, str], scratch: str) -> bool:
    """Whether inserts still work with ``_id`` inside a compound index (cached per ``key``)."""
    from pymongo.errors import OperationFailure

    with _lock:
        if key in _probed:
            return _probed[key]
        collection = database[scratch]
        ok = True
        try:
            collection.drop()
            collection.create_index([("queue", 1), ("priority", 1), ("_id", 1)])
            collection.insert_one({"queue": "probe", "priority": 0})
        except OperationFailure as exc:
            ok = False
            logger.info("mongodb: the server cannot index _id in a compound index (%r); using {queue, priority}", exc)
        finally:
            try:
                collection.drop()
            except Exception:  # noqa: BLE001 - a leftover scratch collection is harmless
                pass
        _probed[key] = ok
        return ok


def supports_dotted_names(database: Any, key: tuple[str, str], scratch: str) -> bool:
    """Whether collection names may contain dots (cached per ``key``)."""
    from pymongo.errors import OperationFailure

    with _lock:
        cache_key = (key[0], key[1] + "\0dots")
        if cache_key in _probed:
            return _probed[cache_key]
        ok = True
        try:
            database[scratch].insert_one({"probe": 1})
        except OperationFailure as exc:
            ok = False
            logger.info("mongodb: the server rejects dotted collection names (%r); dots become underscores", exc)
        finally:
            try:
                database[scratch].drop()
            except Exception:  # noqa: BLE001 - a leftover scratch collection is harmless
                pass
        _probed[cache_key] = ok
        return ok
