"""The plugin module: what ``sqlite://`` offers, without importing it.

The core imports this module when it loads plugins, so it stays cheap: the
transport class is named by a string and imported on first use.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

#: What the transport can do; the conformance kit tests exactly these flags,
#: and checks that every flag left ``False`` raises ``CapabilityNotSupported``.
CAPABILITIES = Capabilities(
    priorities=True,  # stored with each row (Channel._put)
    message_ttl=True,  # the virtual engine drops or dead-letters expired messages
    max_length=True,  # the engine's x-max-length, measured with Channel._size
    dead_lettering=True,  # the engine's x-dead-letter-exchange
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """Announce ``sqlite://``."""
    return [
        TransportInfo(
            name="sqlite",
            schemes=("sqlite",),
            target="kombu_sqlite.transport:Transport",
            distribution="kombu-transport-sqlite",
            client_package=None,  # sqlite3 is in the standard library
            capabilities=CAPABILITIES,
            description="a database file on the standard library's sqlite3",
        )
    ]
