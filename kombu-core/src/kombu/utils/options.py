"""Transport options that arrive either as Python values or as URL-query strings.

A transport option set in ``transport_options={...}`` is a Python value; the
same option in a URL (``redis://host/0?client_fast_path=false``) is a string.
The parsers here accept both and refuse anything else with a ``ValueError``
that names the option, so a typo is an error at ``Connection(...)``'s first
use, never a silent default.
"""

from __future__ import annotations

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("FALSE_WORDS", "TRUE_WORDS", "auto_flag")

#: Strings (compared lower-cased, stripped) that mean true or false.
TRUE_WORDS = frozenset(("1", "true", "yes", "on"))
FALSE_WORDS = frozenset(("0", "false", "no", "off"))


def auto_flag(value: Any, name: str) -> bool | None:
    """Parse a three-way option: ``True``, ``False`` or ``None`` for "auto".

    ``None``, ``True`` and ``False`` are returned as they are; a string is
    ``"auto"`` (``None``) or one of :data:`TRUE_WORDS` / :data:`FALSE_WORDS`,
    in any case. Anything else raises ``ValueError`` naming option ``name``.
    """
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be True, False or 'auto', not {value!r}")
