"""Behaviour of kombu.utils.objects and kombu.utils.encoding."""

from __future__ import annotations

from kombu.utils.encoding import bytes_to_str, safe_repr, safe_str, str_to_bytes
from kombu.utils.objects import cached_property


class Thing:
    def __init__(self):
        self.computed = 0
        self.deleted = []
        self.set = []

    @cached_property
    def plain(self):
        """The plain doc."""
        self.computed += 1
        return self.computed

    @cached_property
    def hooked(self):
        return "initial"

    @hooked.setter
    def hooked(self, value):
        self.set.append(value)
        return value.upper()

    @hooked.deleter
    def hooked(self, value):
        self.deleted.append(value)


def test_cached_property_computes_once():
    t = Thing()
    assert t.plain == 1 and t.plain == 1
    assert t.computed == 1
    del t.plain
    assert t.plain == 2
    t.plain = 10
    assert t.plain == 10
    assert Thing.plain.__doc__ == "The plain doc."
    assert isinstance(Thing.plain, cached_property)


def test_cached_property_setter_and_deleter():
    t = Thing()
    assert t.hooked == "initial"
    t.hooked = "new"
    assert t.set == ["new"]
    assert t.hooked == "NEW"
    del t.hooked
    assert t.deleted == ["NEW"]
    assert t.hooked == "initial"
    del t.hooked
    del t.hooked  # nothing cached: the deleter is not called again
    assert t.deleted == ["NEW", "initial"]


def test_str_bytes_conversion():
    assert str_to_bytes("é") == "é".encode()
    assert str_to_bytes(b"x") == b"x"
    assert str_to_bytes(1) == 1
    assert bytes_to_str(b"\xc3\xa9") == "é"
    assert bytes_to_str("x") == "x"
    assert bytes_to_str(b"\xff") == "\ufffd"


class BadRepr:
    def __repr__(self):
        raise ValueError("no repr")

    def __str__(self):
        return "bad-but-str"


class BadBoth:
    def __repr__(self):
        raise ValueError("no repr")

    def __str__(self):
        raise ValueError("no str")


def test_safe_str_and_repr_never_raise():
    assert safe_str("x") == "x"
    assert safe_str(b"abc") == "abc"
    assert safe_str(12) == "12"
    assert safe_repr([1]) == "[1]"
    assert safe_repr(BadRepr()) == "bad-but-str"
    text = safe_repr(BadBoth())
    assert text.startswith("<Unrepresentable") and "no str" in text
