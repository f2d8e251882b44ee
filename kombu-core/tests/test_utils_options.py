"""kombu.utils.options: three-way options given as Python values or URL-query strings."""

from __future__ import annotations

from typing import Any

import pytest
from kombu.utils.options import auto_flag


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (False, False),
        ("auto", None),
        (" AUTO ", None),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("0", False),
        (0, False),
    ],
)
def test_auto_flag_accepts_bools_auto_and_their_words(value: Any, expected: bool | None) -> None:
    assert auto_flag(value, "some_option") is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, "truthy"])
def test_auto_flag_refuses_anything_else_naming_the_option(value: Any) -> None:
    with pytest.raises(ValueError, match="some_option must be True, False or 'auto'"):
        auto_flag(value, "some_option")
