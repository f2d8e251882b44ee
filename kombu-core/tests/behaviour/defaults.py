"""Connection() and Connection('host') default to AMQP, as in Kombu 5."""

from kombu import Connection
from recording import Result

result: Result = {}
for key, args in (("no_url", ()), ("host_only", ("localhost",))):
    c = Connection(*args)
    result[key] = {"transport": c.transport_cls, "hostname": c.hostname, "uri": c.as_uri()}
