"""kombu.utils.json.dumps output (compared byte for byte), __json__, register_type, round trips."""

from json_value import value
from kombu.utils.json import dumps, loads, register_type


class Reducer:
    def __json__(self):
        return {"reduced": [1, 2]}


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


register_type(Point, "bh_point", lambda p: [p.x, p.y], lambda v: Point(*v))
back = loads(dumps(value))
point = loads(dumps({"p": Point(3, 4)}))["p"]
result = {
    "plain": dumps(value),
    "sorted": dumps(value, sort_keys=True),
    "ascii_off": dumps({"t": value["text"]}, ensure_ascii=False),
    "indented": dumps({"b": [1, {"c": None}]}, indent=2),
    "reducer": dumps({"r": Reducer()}),
    "registered": dumps({"p": Point(3, 4)}),
    "registered_back": [type(point).__name__, point.x, point.y],
    "round_trip": {k: [type(back[k]).__name__, repr(back[k])] for k in value},
}
