"""The mongodb transport for kombu-core."""
