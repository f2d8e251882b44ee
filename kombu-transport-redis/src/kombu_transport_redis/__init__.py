"""The Redis transport for kombu-core (``redis://``, ``rediss://``, ``sentinel://``).

Importing this package imports nothing heavy; the transport lives in
:mod:`kombu_transport_redis.transport` (also importable as
``kombu.transport.redis``).
"""

__version__ = "6.0.0a1"
