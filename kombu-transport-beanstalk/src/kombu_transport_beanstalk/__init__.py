"""The beanstalk transport for kombu-core."""
