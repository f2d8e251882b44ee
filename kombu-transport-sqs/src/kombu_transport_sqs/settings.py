"""Transport options and boto3 clients of an ``sqs://`` connection.

URL forms (Kombu 5's):

* ``sqs://`` -- credentials, region and endpoint from boto3's own chain
  (environment, profile, instance role, ``AWS_ENDPOINT_URL[_SQS|_SNS]``);
* ``sqs://KEY:SECRET@`` -- those credentials (URL-quoted), AWS's endpoint;
* ``sqs://KEY:SECRET@host:port`` -- those credentials and an endpoint
  ``http://host:port`` (``https`` with the ``is_secure`` option).

Every option keeps Kombu 5.7's name and meaning; see the README.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

__all__ = ("Settings", "ClientFactory", "DEFAULT_REGION")

DEFAULT_REGION = "us-east-1"
#: Kombu 5.7's defaults.
DEFAULT_VISIBILITY_TIMEOUT = 1800
DEFAULT_WAIT_TIME_SECONDS = 10
DEFAULT_STS_TOKEN_TIMEOUT = 900


@dataclass
class Settings:
    """What an ``sqs://`` connection was configured with."""

    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    is_secure: bool | None = None
    region: str | None = None
    queue_name_prefix: str = ""
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    wait_time_seconds: int = DEFAULT_WAIT_TIME_SECONDS
    polling_interval: float = 1.0
    predefined_queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    predefined_exchanges: dict[str, dict[str, Any]] = field(default_factory=dict)
    supports_fanout: bool = False
    sts_role_arn: str | None = None
    sts_token_timeout: int = DEFAULT_STS_TOKEN_TIMEOUT
    client_config: dict[str, Any] = field(default_factory=dict)
    creation_attributes: dict[str, Any] = field(default_factory=dict)
    queue_tags: dict[str, str] = field(default_factory=dict)
    fetch_message_attributes: Any = None
    base64_encoding: bool = True
    lease_interval: float | None = None
    store_bindings: bool = True
    batch_publish: bool = False
    binding_refresh_interval: float = 1.0

    @classmethod
    def from_connection(cls, client: Any) -> Settings:
        """Read the URL parts and transport options of ``kombu.Connection`` ``client``."""
        opts: dict[str, Any] = dict(getattr(client, "transport_options", None) or {})
        userid = getattr(client, "userid", None) or None
        password = getattr(client, "password", None) or None
        hostname = getattr(client, "hostname", None) or None
        port = getattr(client, "port", None) or opts.get("port")
        is_secure = opts.get("is_secure")
        endpoint = None
        if hostname and hostname not in ("", "/"):
            scheme = "https" if is_secure else "http"
            endpoint = f"{scheme}://{hostname}" + (f":{int(port)}" if port else "")
        vt = opts.get("visibility_timeout")
        visibility = DEFAULT_VISIBILITY_TIMEOUT if vt in (None, "") else int(float(vt))
        if visibility < 0:
            raise ValueError(f"visibility_timeout must be >= 0, not {vt!r}")
        wait = opts.get("wait_time_seconds")
        wait_s = DEFAULT_WAIT_TIME_SECONDS if wait is None else int(wait)
        if not 0 <= wait_s <= 20:
            raise ValueError(f"wait_time_seconds must be 0..20 (SQS's range), not {wait!r}")
        polling = opts.get("polling_interval")
        predefined = dict(opts.get("predefined_queues") or {})
        for name, spec in predefined.items():
            if "url" not in spec:
                raise ValueError(f"predefined_queues[{name!r}] has no 'url'")
            if spec["url"].endswith(".fifo") != name.endswith(".fifo"):
                raise ValueError(
                    f"predefined queue {name!r}: a FIFO queue's name and URL must both end with .fifo ({spec['url']!r})"
                )
        return cls(
            access_key_id=unquote(userid) if userid else None,
            secret_access_key=unquote(password) if password else None,
            endpoint_url=endpoint,
            is_secure=is_secure,
            region=opts.get("region"),
            queue_name_prefix=opts.get("queue_name_prefix", "") or "",
            visibility_timeout=visibility,
            wait_time_seconds=wait_s,
            polling_interval=1.0 if polling is None else float(polling),
            predefined_queues=predefined,
            predefined_exchanges=dict(opts.get("predefined_exchanges") or {}),
            supports_fanout=bool(opts.get("supports_fanout", False)),
            sts_role_arn=opts.get("sts_role_arn"),
            sts_token_timeout=int(opts.get("sts_token_timeout", DEFAULT_STS_TOKEN_TIMEOUT)),
            client_config=dict(opts.get("client-config") or {}),
            creation_attributes=dict(opts.get("sqs-creation-attributes") or {}),
            queue_tags=dict(opts.get("queue_tags") or {}),
            fetch_message_attributes=opts.get("fetch_message_attributes"),
            base64_encoding=bool(opts.get("sqs_base64_encoding", True)),
            lease_interval=opts.get("lease_interval"),
            store_bindings=bool(opts.get("store_bindings", True)),
            batch_publish=_flag(opts.get("batch_publish", False)),
            binding_refresh_interval=float(opts.get("binding_refresh_interval", 1.0)),
        )

    def message_attribute_request(self) -> dict[str, list[str]]:
        """ReceiveMessage's attribute arguments (Kombu 5.7's ``fetch_message_attributes``).

        ``ApproximateReceiveCount`` is always asked for: it tells a
        redelivery apart from a first delivery.
        """
        fetch = self.fetch_message_attributes
        system: list[str] = []
        custom: list[str] = []
        if isinstance(fetch, list):
            system = list(fetch)
        elif isinstance(fetch, dict):
            system = list(fetch.get("MessageSystemAttributeNames") or [])
            custom = list(fetch.get("MessageAttributeNames") or [])
        if any(s.lower() == "all" for s in system):
            system = ["All"]
        elif "ApproximateReceiveCount" not in system:
            system.append("ApproximateReceiveCount")
        out = {"MessageSystemAttributeNames": sorted(set(system))}
        if custom:
            out["MessageAttributeNames"] = ["All"] if any(c.lower() == "all" for c in custom) else sorted(set(custom))
        return out


class ClientFactory:
    """One boto3 client per service and credential set, for one connection.

    boto3 clients are thread-safe, so the connection's lease and poller
    threads share them. With ``sts_role_arn`` the clients use temporary
    credentials from ``AssumeRole``, renewed before ``sts_token_timeout``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[tuple[Any, ...], tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def _config(self) -> Any:
        from botocore.config import Config

        # Generous read timeout: a long poll may hold a request 20 s.
        defaults: dict[str, Any] = {
            "connect_timeout": 5,
            "read_timeout": max(30, self.settings.wait_time_seconds + 10),
            "retries": {"mode": "standard", "max_attempts": 3},
            "max_pool_connections": 20,
        }
        defaults.update(self.settings.client_config)
        return Config(**defaults)

    def client(self, service: str = "sqs", queue: str | None = None) -> Any:
        """The client for ``service`` (for predefined ``queue``'s own keys, if it has any)."""
        s = self.settings
        spec = s.predefined_queues.get(queue, {}) if queue is not None else {}
        region = spec.get("region") or s.region
        key = spec.get("access_key_id", s.access_key_id)
        secret = spec.get("secret_access_key", s.secret_access_key)
        cache_key = (service, region, key)
        now = time.monotonic()
        with self._lock:
            cached = self._clients.get(cache_key)
            if cached is not None and cached[1] > now:
                return cached[0]
            client, expires = self._new_client(service, region, key, secret)
            self._clients[cache_key] = (client, expires)
            return client

    def _new_client(self, service: str, region: str | None, key: str | None, secret: str | None) -> tuple[Any, float]:
        import boto3

        s = self.settings
        token = None
        expires = float("inf")
        if s.sts_role_arn:
            key, secret, token = self._assume_role(key, secret)
            # Renew well before the token runs out.
            expires = time.monotonic() + max(s.sts_token_timeout * 0.8, 1)
        session = boto3.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
        )
        if session.region_name is None:
            session = boto3.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=DEFAULT_REGION
            )
        kwargs: dict[str, Any] = {"config": self._config()}
        if s.endpoint_url is not None:
            kwargs["endpoint_url"] = s.endpoint_url
        if s.is_secure is not None:
            kwargs["use_ssl"] = bool(s.is_secure)
        return session.client(service, **kwargs), expires

    def _assume_role(self, key: str | None, secret: str | None) -> tuple[str, str, str]:
        import boto3

        s = self.settings
        sts = boto3.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, region_name=s.region or DEFAULT_REGION
        ).client("sts", **({"endpoint_url": s.endpoint_url} if s.endpoint_url else {}))
        creds = sts.assume_role(RoleArn=s.sts_role_arn, RoleSessionName="kombu", DurationSeconds=s.sts_token_timeout)[
            "Credentials"
        ]
        return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]


def _flag(value: Any) -> bool:
    """A boolean transport option, also from a URL query string ("false", "0", "no", "off")."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)
