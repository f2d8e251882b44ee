"""Debugging helpers: :func:`setup_logging` and :class:`Logwrapped`."""

from __future__ import annotations

import logging
from typing import Any

from .functional import reprcall

__all__ = ("Logwrapped", "setup_logging")


def setup_logging(loglevel: int | None = logging.DEBUG, loggers: list[str] | None = None) -> None:
    """Send the given loggers (default: Kombu's connection and channel loggers) to stderr at ``loglevel``."""
    loggers = ["kombu.connection", "kombu.channel"] if loggers is None else loggers
    for name in loggers:
        logger = logging.getLogger(name)
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(loglevel or logging.DEBUG)


class Logwrapped:
    """A proxy that logs every method call made on ``instance`` (and its result)."""

    __ignore = ("__enter__", "__exit__")

    def __init__(self, instance: Any, logger: logging.Logger | str | None = None, ident: str | None = None) -> None:
        self.instance = instance
        if isinstance(logger, str) or logger is None:
            logger = logging.getLogger(logger or "kombu.debug")
        self.logger = logger
        self.ident = ident

    def __getattr__(self, key: str) -> Any:
        meth = getattr(self.instance, key)
        if not callable(meth) or key in self.__ignore:
            return meth

        def logged(*args: Any, **kwargs: Any) -> Any:
            info = (self.ident % (key,) if self.ident and "%s" in self.ident else (self.ident or "")) + " "
            self.logger.debug("%s%s", info, reprcall(key, args, kwargs))
            result = meth(*args, **kwargs)
            self.logger.debug("%s%s -> %r", info, key, result)
            return result

        logged.__name__ = key
        return logged

    def __repr__(self) -> str:
        return repr(self.instance)

    def __dir__(self) -> list[str]:
        return dir(self.instance)
