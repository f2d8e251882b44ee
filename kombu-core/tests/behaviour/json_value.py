"""Shared value (not a scenario): what kombu.utils.json must encode, every special type included."""

import datetime
import decimal
import uuid

tz = datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))
value = {
    "naive": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
    "aware": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=tz),
    "utc": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    "midnight": datetime.datetime(2024, 1, 1),
    "date": datetime.date(2024, 2, 29),
    "time": datetime.time(23, 59, 58, 1),
    "time_tz": datetime.time(1, 2, tzinfo=datetime.timezone.utc),
    "decimal": decimal.Decimal("3.14159265358979323846264338327950288"),
    "decimal_exp": decimal.Decimal("1E+3"),
    "decimal_neg_zero": decimal.Decimal("-0.00"),
    "uuid": uuid.UUID("5b4c12a4-6f39-4b1d-9c6e-1f2a3b4c5d6e"),
    "nested": [{"id": uuid.UUID(int=1), "at": datetime.date(2000, 1, 1)}, (1, 2.5, None, True)],
    "text": "caf\u00e9 \u2603",
    "bytes": b"abc",
    "binary": b"\xff\x00\xfe",
}
