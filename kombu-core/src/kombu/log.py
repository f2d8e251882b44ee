"""Logging helpers: :class:`LogMixin`, :func:`get_logger`, :func:`setup_logging`."""

from __future__ import annotations

import logging
import numbers
import os
import sys
from logging.handlers import WatchedFileHandler
from typing import Any

from .utils.encoding import safe_repr, safe_str
from .utils.functional import maybe_evaluate
from .utils.objects import cached_property

__all__ = ("LOG_LEVELS", "LogMixin", "get_logger", "get_loglevel", "safeRepr", "setup_logging")

#: Level names to numbers and numbers to names.
LOG_LEVELS: dict[Any, Any] = dict(logging._nameToLevel)
LOG_LEVELS.update({v: k for k, v in LOG_LEVELS.items() if k not in ("WARN", "FATAL")})

DISABLE_TRACEBACKS = os.environ.get("DISABLE_TRACEBACKS")

safeRepr = safe_repr


def get_logger(logger: str | logging.Logger) -> logging.Logger:
    """Return the logger named ``logger`` (a logger is returned as is), with a null handler."""
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def get_loglevel(level: str | int) -> int:
    """Return the numeric log level for a name like ``"INFO"`` (numbers are returned unchanged)."""
    if isinstance(level, str):
        number: int = LOG_LEVELS[level]
        return number
    return level


class LogMixin:
    """Give a class ``debug``/``info``/``warn``/``error``/``critical`` methods.

    Messages are prefixed with :meth:`annotate` (the class name) and sent to
    :meth:`get_logger` (a logger named after :attr:`logger_name`).
    """

    def debug(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.DEBUG, *args, **kwargs)

    def info(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.INFO, *args, **kwargs)

    def warn(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.WARNING, *args, **kwargs)

    def error(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("exc_info", True)
        return self.log(logging.ERROR, *args, **kwargs)

    def critical(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("exc_info", True)
        return self.log(logging.CRITICAL, *args, **kwargs)

    def annotate(self, text: str) -> str:
        """Prefix ``text`` with the log prefix."""
        return f"{self.logger_name} - {text}"

    def log(self, severity: int, *args: Any, **kwargs: Any) -> None:
        """Log at ``severity``; lazy arguments are evaluated only if that level is enabled."""
        if DISABLE_TRACEBACKS:
            kwargs.pop("exc_info", None)
        if self.logger.isEnabledFor(severity):
            if len(args) > 1 and isinstance(args[0], str):
                values = tuple(maybe_evaluate(arg) for arg in args[1:])
                self.logger.log(severity, self.annotate(args[0]), *values, **kwargs)
            else:
                self.logger.log(severity, self.annotate(" ".join(map(safe_str, args))), **kwargs)

    def get_logger(self) -> logging.Logger:
        """Return the logger messages go to."""
        return get_logger(self.logger_name)

    def is_enabled_for(self, level: int) -> bool:
        """Whether messages at ``level`` would be logged."""
        return self.logger.isEnabledFor(self.get_loglevel(level))

    def get_loglevel(self, level: str | int) -> int:
        """Return the numeric level for ``level``; numbers are returned unchanged."""
        if not isinstance(level, numbers.Integral):
            number: int = LOG_LEVELS[level]
            return number
        return level

    @cached_property
    def logger(self) -> logging.Logger:
        return self.get_logger()

    @property
    def logger_name(self) -> str:
        return self.__class__.__name__


def setup_logging(loglevel: str | int | None = None, logfile: str | None = None) -> logging.Logger:
    """Configure the root logger: level ``loglevel`` (default ERROR), to ``logfile`` or stderr.

    Does nothing more if the root logger already has handlers.
    """
    logger = logging.getLogger()
    level = get_loglevel(loglevel or "ERROR")
    if not logger.handlers:
        handler: logging.Handler = WatchedFileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
        logger.addHandler(handler)
        logger.setLevel(level)
    return logger
