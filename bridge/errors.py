"""The one exception hierarchy of pathfinder-bridge.

Every message says what went wrong and what the user can do about it; the CLI
prints it without a traceback.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error pathfinder-bridge raises on purpose."""


class ConfigError(BridgeError):
    """A configuration value (file, environment or flag) is invalid."""


class ProtocolError(BridgeError):
    """A message from the network does not follow the wire protocol."""


class PortInUseError(BridgeError):
    """The port the server should listen on is already taken."""


class ServiceError(BridgeError):
    """Starting, stopping or querying a background service failed."""
