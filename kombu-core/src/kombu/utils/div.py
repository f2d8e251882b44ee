"""Miscellaneous helpers: :func:`emergency_dump_state`."""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pprint import pformat
from typing import Any, TextIO

__all__ = ("emergency_dump_state",)


def emergency_dump_state(
    state: Any,
    open_file: Callable[..., Any] = open,
    dump: Callable[[Any, Any], Any] | None = None,
    stderr: TextIO | None = None,
) -> str:
    """Save ``state`` to a new temporary file and return the file's name.

    Used when something must not be lost (e.g. unacked messages) but cannot
    be put back. The state is pickled (or written with ``dump(state, file)``);
    if that fails, its ``pformat`` text is written instead. The file name is
    reported on ``stderr``.
    """
    stderr = sys.stderr if stderr is None else stderr
    dump = pickle.dump if dump is None else dump
    fd, persist = tempfile.mkstemp()
    os.close(fd)
    print(f"EMERGENCY DUMP STATE TO FILE -> {persist} <-", file=stderr)
    with open_file(persist, "wb") as fh:
        try:
            dump(state, fh)
        except Exception as exc:  # noqa: BLE001 - anything unpicklable falls back to text
            print(f"Cannot pickle state: {exc!r}. Fallback to pformat.", file=stderr)
            fh.seek(0)
            fh.truncate()
            fh.write(pformat(state).encode("utf-8", "replace"))
        fh.flush()
    return persist
