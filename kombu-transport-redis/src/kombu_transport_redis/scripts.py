"""The Lua scripts that make one round trip do the work of several.

Each script is loaded once per connection (``SCRIPT LOAD``) and run with
``EVALSHA``; :class:`Script` falls back to ``EVAL`` when the server lost its
script cache (a restart or ``SCRIPT FLUSH``).

Every script keeps Kombu 5's data layout (see :mod:`kombu_transport_redis.keys`):
they only make the multi-step operations atomic and batched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ("Script", "FETCH", "RECORD", "RESTORE", "RESTORE_ROUTED", "PUBLISH_DIRECT", "BIND_EXPIRING", "UNLOCK", "ALL")


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1 digest."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


#: Pop up to ARGV[1] messages from the lists KEYS[3..] (in that order: the
#: first non-empty list is drained first) and, when ARGV[3] == '1', record
#: each one as unacknowledged in the same atomic step: hash KEYS[1] gets
#: field delivery_tag -> '[envelope,exchange,routing_key]' and sorted set
#: KEYS[2] gets delivery_tag with score ARGV[2] (seconds since the epoch).
#: Returns a flat list: list key, message, list key, message, ...
FETCH = Script(
    "fetch",
    """
local want = tonumber(ARGV[1])
local now = ARGV[2]
local record = ARGV[3] == '1'
local out = {}
local got = 0
for i = 3, #KEYS do
    if got >= want then break end
    local items = redis.call('RPOP', KEYS[i], want - got)
    if items then
        for _, m in ipairs(items) do
            if record then
                local ok, env = pcall(cjson.decode, m)
                if ok and type(env) == 'table' and type(env.properties) == 'table' then
                    local p = env.properties
                    local tag = p.delivery_tag
                    if type(tag) == 'string' then
                        local ex, rk = '', ''
                        if type(p.delivery_info) == 'table' then
                            ex = p.delivery_info.exchange
                            rk = p.delivery_info.routing_key
                        end
                        if ex == nil then ex = '' end
                        if rk == nil then rk = '' end
                        redis.call('HSET', KEYS[1], tag,
                            '[' .. m .. ',' .. cjson.encode(ex) .. ',' .. cjson.encode(rk) .. ']')
                        redis.call('ZADD', KEYS[2], now, tag)
                    end
                end
            end
            got = got + 1
            out[#out + 1] = KEYS[i]
            out[#out + 1] = m
        end
    end
end
return out
""",
)

#: Record deliveries as unacknowledged, atomically: ARGV[1] is the time,
#: then pairs delivery_tag, '[envelope,exchange,routing_key]'.
RECORD = Script(
    "record",
    """
local now = ARGV[1]
for i = 2, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], now, ARGV[i])
end
return (#ARGV - 1) / 2
""",
)

#: Give deliveries back to the queues they came from, each at most once:
#: for each i, if field ARGV[2i] is still in hash KEYS[1] it is removed
#: (with its KEYS[2] index entry) and message ARGV[2i+1] is pushed on list
#: KEYS[2+i], at the consuming end (RPUSH) when ARGV[1] == 'head', else at
#: the far end (LPUSH). A delivery no longer recorded (acked, or restored by
#: someone else) is not pushed. Returns how many were pushed.
RESTORE = Script(
    "restore",
    """
local head = ARGV[1] == 'head'
local pushed = 0
for i = 1, #KEYS - 2 do
    local tag = ARGV[2 * i]
    if redis.call('HDEL', KEYS[1], tag) == 1 then
        if head then
            redis.call('RPUSH', KEYS[2 + i], ARGV[2 * i + 1])
        else
            redis.call('LPUSH', KEYS[2 + i], ARGV[2 * i + 1])
        end
        pushed = pushed + 1
    end
    redis.call('ZREM', KEYS[2], tag)
end
return pushed
""",
)

#: Restore one delivery of a consumer that is gone to every list KEYS[3..]
#: its exchange routes it to, if it is still recorded in hash KEYS[1];
#: ARGV: delivery_tag, message, 'head'|'tail'. Returns 1 when restored.
RESTORE_ROUTED = Script(
    "restore_routed",
    """
local tag = ARGV[1]
if redis.call('HDEL', KEYS[1], tag) == 0 then
    redis.call('ZREM', KEYS[2], tag)
    return 0
end
redis.call('ZREM', KEYS[2], tag)
for i = 3, #KEYS do
    if ARGV[3] == 'head' then
        redis.call('RPUSH', KEYS[i], ARGV[2])
    else
        redis.call('LPUSH', KEYS[i], ARGV[2])
    end
end
return 1
""",
)

#: Direct-exchange publish routed by the server: push message ARGV[2] on
#: every queue bound to the exchange (binding set KEYS[1]) with routing key
#: ARGV[1]. The list is ARGV[3] .. queue .. ARGV[4] (key prefix, priority
#: suffix); ARGV[5] is the binding-member separator. Returns how many
#: queues received it. Reading the bindings here keeps routing exact while
#: other processes bind and unbind, without a round trip per publish.
PUBLISH_DIRECT = Script(
    "publish_direct",
    """
local sep = ARGV[5]
local seplen = #sep
local n = 0
local seen = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local a = string.find(m, sep, 1, true)
    if a and string.sub(m, 1, a - 1) == ARGV[1] then
        local b = string.find(m, sep, a + seplen, true)
        if b then
            local q = string.sub(m, b + seplen)
            if not seen[q] then
                seen[q] = true
                redis.call('LPUSH', ARGV[3] .. q .. ARGV[4], ARGV[2])
                n = n + 1
            end
        end
    end
end
return n
""",
)

#: Kombu 5.7's binding of an expiring queue: add member ARGV[1] to binding
#: table KEYS[1] and raise exchange ARGV[2]'s deadline in sorted set KEYS[2]
#: to ARGV[3] ms from now by the server clock (never lowering it).
BIND_EXPIRING = Script(
    "bind_expiring",
    """
redis.call('SADD', KEYS[1], ARGV[1])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[2], 'GT', ms + tonumber(ARGV[3]), ARGV[2])
return 1
""",
)

#: Release lock KEYS[1] if it still holds our token ARGV[1] (the same
#: token protocol as redis-py's Lock, which Kombu 5 uses for unacked_mutex).
UNLOCK = Script(
    "unlock",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
""",
)

ALL: tuple[Script, ...] = (FETCH, RECORD, RESTORE, RESTORE_ROUTED, PUBLISH_DIRECT, BIND_EXPIRING, UNLOCK)
