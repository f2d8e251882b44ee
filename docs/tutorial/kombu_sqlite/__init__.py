"""``sqlite://``: a Kombu transport on the standard library's :mod:`sqlite3`.

The tutorial's example transport (``docs/tutorial.md``). Queues are rows of
one database file, so every connection and every process that opens the same
file shares them. Exchanges, bindings, acknowledgements, prefetch, message
TTL, length limits and dead-lettering come from the core's virtual engine.
"""
