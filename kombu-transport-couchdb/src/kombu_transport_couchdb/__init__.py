"""The CouchDB transport for kombu-core (``couchdb://``, ``couchdbs://``).

Importing this package imports nothing heavy; the transport lives in
:mod:`kombu_transport_couchdb.transport` (also importable as
``kombu.transport.couchdb``) and imports ``requests`` when first used.
"""

__version__ = "6.0.0a1"
