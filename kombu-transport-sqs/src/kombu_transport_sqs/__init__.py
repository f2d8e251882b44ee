"""The Amazon SQS transport for kombu-core (``sqs://``, boto3).

Importing this package imports nothing heavy; the transport lives in
:mod:`kombu_transport_sqs.transport`.
"""
