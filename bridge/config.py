"""Configuration: one frozen dataclass tree, from config.yaml, then environment, then flags.

The dataclass defaults are the built-in defaults; `config.yaml` at the project root
repeats them for people to edit (a unit test keeps the two equal). Every value is
checked on load and a bad one raises `ConfigError` naming its key, e.g. `server.port`.
Environment variables are `PATHFINDER_BRIDGE_<SECTION>_<KEY>` (nested keys joined by
`_`), e.g. `PATHFINDER_BRIDGE_SERVER_PORT=9001`; lists are comma-separated.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bridge.errors import ConfigError

ENV_PREFIX = "PATHFINDER_BRIDGE_"
ENV_CONFIG_FILE = "PATHFINDER_BRIDGE_CONFIG"

#: --no-sandbox is not among them: it is added only when running as root (bridge/browser/launch.py).
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    """Hardening of the signaling server; none of these exist in the original."""

    max_frame_bytes: int = 65536
    #: The `_per_ip` limits count per address range (`bridge/signaling/ranges.py`): all of
    #: loopback, an IPv4 /24, an IPv6 /48.
    max_connections_per_ip: int = 200
    #: New registrations (a socket asking for an id that is not connected here) a second per
    #: address range, and their burst.
    registrations_per_second_per_ip: float = 20.0
    registration_burst_per_ip: int = 200
    messages_per_second: float = 50.0
    message_burst: int = 200
    max_queued_per_peer: int = 100
    max_queued_total: int = 20000
    max_queued_bytes_per_sender: int = 262144
    max_queued_bytes_total: int = 16777216
    max_unsent_bytes: int = 262144
    #: Unsent bytes of all peers that are behind, together; past it, a peer that is behind
    #: gets nothing more until it reads.
    max_unsent_bytes_total: int = 16777216
    #: Seconds a peer that is behind may take nothing of what we send before its socket is
    #: closed (it is not reading; its id stays reserved for its token).
    stalled_reader_timeout: float = 15.0
    #: Read buffers grown by large frames, all sockets together (picows keeps a socket's
    #: buffer at the size of the largest frame it read); past it, a larger frame closes its
    #: socket with ERROR.
    max_read_buffer_bytes_total: int = 16777216
    max_reservations: int = 20000
    max_reservations_per_ip: int = 400
    #: Ids kept for owners who went away, per address range; past it, the range's oldest
    #: such reservation goes first.
    max_away_reservations_per_ip: int = 200
    #: Seconds a socket must have held its id for the id to be kept after the socket goes:
    #: one that registers and closes at once leaves nothing behind.
    reservation_min_connected: float = 5.0
    max_id_length: int = 64
    max_token_length: int = 64

    def __post_init__(self) -> None:
        _check(1024 <= self.max_frame_bytes <= 16 * 2**20, "max_frame_bytes", "1024..16777216")
        _check(self.max_connections_per_ip >= 1, "max_connections_per_ip", "must be >= 1")
        _check(
            self.registrations_per_second_per_ip > 0,
            "registrations_per_second_per_ip",
            "must be > 0",
        )
        _check(self.registration_burst_per_ip >= 1, "registration_burst_per_ip", "must be >= 1")
        _check(self.messages_per_second > 0, "messages_per_second", "must be > 0")
        _check(self.message_burst >= 1, "message_burst", "must be >= 1")
        _check(self.max_queued_per_peer >= 0, "max_queued_per_peer", "must be >= 0")
        _check(self.max_queued_total >= 0, "max_queued_total", "must be >= 0")
        _check(self.max_queued_bytes_per_sender >= 0, "max_queued_bytes_per_sender", "must be >= 0")
        _check(self.max_queued_bytes_total >= 0, "max_queued_bytes_total", "must be >= 0")
        _check(
            self.max_unsent_bytes >= self.max_frame_bytes,
            "max_unsent_bytes",
            "must be >= max_frame_bytes (a peer must be able to receive one whole frame)",
        )
        _check(
            self.max_unsent_bytes_total >= self.max_unsent_bytes,
            "max_unsent_bytes_total",
            "must be >= max_unsent_bytes",
        )
        _check(self.stalled_reader_timeout > 0, "stalled_reader_timeout", "must be > 0")
        from bridge.signaling.budgets import RANGE_SHARE, read_buffer_for

        one_frame = read_buffer_for(self.max_frame_bytes)
        _check(
            self.max_read_buffer_bytes_total >= RANGE_SHARE * one_frame,
            "max_read_buffer_bytes_total",
            f"must be >= {RANGE_SHARE * one_frame} ({RANGE_SHARE} x the {one_frame}-byte read "
            "buffer of one max_frame_bytes frame: one address range may hold "
            f"1/{RANGE_SHARE} of it, and must be able to read a large frame)",
        )
        _check(self.max_reservations >= 1, "max_reservations", "must be >= 1")
        _check(self.max_reservations_per_ip >= 1, "max_reservations_per_ip", "must be >= 1")
        _check(
            self.max_away_reservations_per_ip >= 1,
            "max_away_reservations_per_ip",
            "must be >= 1",
        )
        _check(
            self.reservation_min_connected >= 0,
            "reservation_min_connected",
            "must be >= 0",
        )
        _check(1 <= self.max_id_length <= 256, "max_id_length", "1..256")
        _check(1 <= self.max_token_length <= 256, "max_token_length", "1..256")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """`pathfinder-bridge signal`: defaults match Pathfinder's own server settings."""

    host: str = "127.0.0.1"
    port: int = 9000
    path: str = "/pathfinder"
    key: str = "pathfinder"
    alive_timeout: float = 60.0
    expire_timeout: float = 5.0
    reservation_grace: float = 60.0
    cleanup_interval: float = 1.0
    concurrent_limit: int = 5000
    allow_discovery: bool = False
    allowed_origins: tuple[str, ...] = ("*",)
    tls_cert: str = ""
    tls_key: str = ""
    state_dir: str = ""
    #: Cluster mode: instances on this Redis share one realm (empty: one process, no Redis).
    redis_url: str = ""
    redis_timeout: float = 2.0
    #: This instance's name in a cluster (empty: HOST:PORT).
    instance_name: str = ""
    #: Proxies (addresses) whose X-Forwarded-For names the client, for the per-address limits.
    trusted_proxies: tuple[str, ...] = ()
    limits: LimitsConfig = dataclasses.field(default_factory=LimitsConfig)

    def __post_init__(self) -> None:
        _check(bool(self.host), "host", "must not be empty")
        _check(0 <= self.port <= 65535, "port", "must be 0..65535 (0 picks a free port)")
        _check(
            self.path.startswith("/") and " " not in self.path,
            "path",
            "must start with '/' and contain no spaces",
        )
        _check(
            bool(re.fullmatch(r"[A-Za-z0-9_.~-]{1,64}", self.key)),
            "key",
            "1-64 of A-Z a-z 0-9 _ . ~ -",
        )
        _check(self.alive_timeout > 0, "alive_timeout", "must be > 0 seconds")
        _check(self.expire_timeout > 0, "expire_timeout", "must be > 0 seconds")
        _check(self.reservation_grace >= 0, "reservation_grace", "must be >= 0 seconds (0: off)")
        _check(self.cleanup_interval > 0, "cleanup_interval", "must be > 0 seconds")
        _check(self.concurrent_limit >= 1, "concurrent_limit", "must be >= 1")
        _check(
            self.limits.max_reservations >= self.concurrent_limit,
            "limits.max_reservations",
            "must be >= concurrent_limit (every connected peer holds a reservation)",
        )
        _check(bool(self.allowed_origins), "allowed_origins", "list at least one origin, or '*'")
        _check(
            bool(self.tls_cert) == bool(self.tls_key),
            "tls_cert",
            "tls_cert and tls_key go together",
        )
        _check(
            not self.redis_url or bool(re.fullmatch(r"(rediss?|unix)://\S+", self.redis_url)),
            "redis_url",
            "must look like redis://HOST:PORT/DB (rediss:// for TLS, unix:///path.sock)",
        )
        _check(self.redis_timeout > 0, "redis_timeout", "must be > 0 seconds")
        _check(
            bool(re.fullmatch(r"[A-Za-z0-9_.:-]{0,64}", self.instance_name)),
            "instance_name",
            "0-64 of A-Z a-z 0-9 _ . : -",
        )
        for proxy in self.trusted_proxies:
            _check(_is_ip(proxy), "trusted_proxies", f"{proxy!r} is not an IP address")

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}{self.path.rstrip('/') or '/'}"


@dataclasses.dataclass(frozen=True)
class IceServerConfig:
    urls: tuple[str, ...] = ()
    username: str = ""
    credential: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.urls), "urls", "give at least one stun:/turn:/turns: URL")
        for url in self.urls:
            _check(
                url.split(":", 1)[0] in ("stun", "stuns", "turn", "turns"),
                "urls",
                f"{url!r} is not a stun:, stuns:, turn: or turns: URL",
            )


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """Presenters and attendees: where the signaling server is and how to reach peers."""

    server_url: str = "http://127.0.0.1:9000/pathfinder"
    key: str = "pathfinder"
    ice_servers: tuple[IceServerConfig, ...] = ()
    heartbeat_interval: float = 5.0
    connect_timeout: float = 15.0
    ice_transport_policy: str = "all"
    reconnect_initial: float = 0.5
    reconnect_max: float = 5.0
    presenter_grace: float = 60.0
    presenter_silence_timeout: float = 15.0
    #: Data connections a presenter holds at once (attendees, and those joining).
    max_connections: int = 256
    #: Bytes of chunked messages not yet whole, all data connections of one presenter,
    #: attendee or swarm worker together.
    max_partial_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        _check(
            self.ice_transport_policy in ("all", "relay"), "ice_transport_policy", "all or relay"
        )
        _check(self.max_connections >= 1, "max_connections", "must be >= 1")
        _check(self.max_partial_bytes >= 0, "max_partial_bytes", "must be >= 0")
        _check(
            0 < self.reconnect_initial <= self.reconnect_max,
            "reconnect_initial",
            "must be > 0 and <= reconnect_max",
        )
        _check(self.presenter_grace > 0, "presenter_grace", "must be > 0 seconds")
        _check(
            self.presenter_silence_timeout > self.heartbeat_interval,
            "presenter_silence_timeout",
            "must be longer than heartbeat_interval",
        )
        _check(
            bool(re.fullmatch(r"https?://[^/\s]+(/\S*)?", self.server_url)),
            "server_url",
            "must look like http://HOST:PORT/PATH (https:// for TLS)",
        )
        _check(bool(self.key), "key", "must not be empty")
        _check(self.heartbeat_interval > 0, "heartbeat_interval", "must be > 0 seconds")
        _check(self.connect_timeout > 0, "connect_timeout", "must be > 0 seconds")


@dataclasses.dataclass(frozen=True)
class BrowserConfig:
    """Chromium for the browser agents. An empty executable_path means: find one."""

    executable_path: str = ""
    headless: str = "auto"
    args: tuple[str, ...] = CHROMIUM_FLAGS
    action_timeout: float = 5.0
    grafana_version: str = ""
    #: `follow --confirm`: ask before a destructive Do it, before every one, or never.
    confirm: str = "destructive"
    confirm_timeout: float = 30.0

    def __post_init__(self) -> None:
        _check(self.headless in ("auto", "true", "false"), "headless", "auto, true or false")
        _check(self.action_timeout > 0, "action_timeout", "must be > 0 seconds")
        _check(
            self.confirm in ("destructive", "all", "none"), "confirm", "destructive, all or none"
        )
        _check(self.confirm_timeout > 0, "confirm_timeout", "must be > 0 seconds")


@dataclasses.dataclass(frozen=True)
class Config:
    server: ServerConfig = dataclasses.field(default_factory=ServerConfig)
    client: ClientConfig = dataclasses.field(default_factory=ClientConfig)
    browser: BrowserConfig = dataclasses.field(default_factory=BrowserConfig)


T = TypeVar("T")


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Turn a YAML or environment value into the field's type, or raise naming `key`."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(hint, value, key)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value))
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"{key}: unsupported type")  # pragma: no cover - not used
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover


def _build(cls: type[T], data: Mapping[str, Any], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {
        name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.{exc}" if prefix else str(exc)) from None


def _as_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_as_dict(item) for item in obj]
    return obj


def to_dict(config: Any) -> dict[str, Any]:
    """The configuration as plain data, in the shape of config.yaml."""
    result = _as_dict(config)
    assert isinstance(result, dict)
    return result


def _env_overrides(cls: type[Any], prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect PATHFINDER_BRIDGE_* variables into the nested shape of the config tree."""
    found: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name.upper()}"
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            nested = _env_overrides(hint, f"{name}_", environ)  # type: ignore[arg-type]
            if nested:
                found[field.name] = nested
        elif name in environ:
            found[field.name] = environ[name]
    return found


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """$PATHFINDER_BRIDGE_CONFIG, else the user's own file when it exists:
    `$XDG_CONFIG_HOME/pathfinder-bridge/config.yaml` (`~/.config/...`).

    Never a config.yaml of the working directory unless named (`--config config.yaml`): a
    folder someone else prepared (a workshop's repository) would choose the Chromium that
    runs, its flags and `browser.confirm`.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CONFIG_FILE)
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(base) / "pathfinder-bridge" / "config.yaml"
    return user if user.is_file() else None


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults, then the YAML file, then environment variables, then `overrides` (flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of server, client, browser")
        data = loaded
    env = os.environ if environ is None else environ
    data = _merge(data, _env_overrides(Config, ENV_PREFIX, env))
    if overrides:
        data = _merge(data, overrides)
    return _build(Config, data, "")
