"""The couchdb transport for kombu-core."""
