"""The sqs transport for kombu-core."""
