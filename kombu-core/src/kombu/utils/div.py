"""Miscellaneous helpers: :func:`emergency_dump_state`."""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pprint import pformat
from typing import Any, TextIO

__all__ = ("emergency_dump_state",)

logger = logging.getLogger(__name__)


def emergency_dump_state(
    state: Any,
    open_file: Callable[..., Any] = open,
    dump: Callable[..., Any] | None = None,
    stderr: TextIO | None = None,
) -> str:
    """Save ``state`` to a new temporary file and return the file's name.

    Used when something must not be lost (e.g. unacked messages) but cannot
    be put back. By default the state is pickled (protocol 0) into a file
    opened in binary mode; a ``dump(state, file, protocol=0)`` of your own
    gets a text-mode file (``json.dump`` works; a binary serializer needs an
    ``open_file(name, mode)`` that opens a binary stream). If dumping fails,
    the ``pformat`` text of the state is written instead, over what was
    written if the stream can be truncated, after it otherwise.

    The file name is printed on ``stderr`` when one is given, else logged at
    ERROR (with ``extra={"emergency_state_file": name}``), as in Kombu 5.7.
    """
    mode = "wb" if dump is None else "w"
    if dump is None:
        dump = pickle.dump
    fd, persist = tempfile.mkstemp()
    os.close(fd)
    if stderr is not None:
        print(f"EMERGENCY DUMP STATE TO FILE -> {persist} <-", file=stderr)
    else:
        logger.error("EMERGENCY DUMP STATE TO FILE -> %s <-", persist, extra={"emergency_state_file": persist})
    fh = open_file(persist, mode)
    try:
        try:
            dump(state, fh, protocol=0)
        except Exception as exc:  # noqa: BLE001 - anything that cannot be dumped falls back to text
            if stderr is not None:
                print(f"Cannot pickle state: {exc!r}. Fallback to pformat.", file=stderr)
            else:
                logger.exception("Cannot pickle state. Falling back to pformat.")
            _rewind(fh)
            text = pformat(state)
            try:
                fh.write(text.encode("utf-8"))
            except TypeError:  # a text stream (not necessarily an io.TextIOBase)
                fh.write(text)
    finally:
        fh.flush()
        fh.close()
    return persist


def _rewind(fh: Any) -> None:
    """Drop a partial dump: truncate, or at least append after it."""
    try:
        fh.seek(0)
        fh.truncate()
    except (OSError, ValueError):
        try:
            fh.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            pass  # not seekable: the partial dump stays in front of the text
