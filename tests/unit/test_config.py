from pathlib import Path

import pytest
import yaml

from bridge.config import Config, load_config, to_dict
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_config_yaml_matches_builtin_defaults() -> None:
    on_disk = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert on_disk == to_dict(Config())


def test_defaults_are_pathfinders() -> None:
    server = load_config(None, environ={}).server
    assert (server.port, server.path, server.key, server.alive_timeout) == (
        9000,
        "/pathfinder",
        "pathfinder",
        60.0,
    )
    assert server.allow_discovery is False


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 9100\n  key: filekey\n")
    config = load_config(
        path,
        environ={
            "PATHFINDER_BRIDGE_SERVER_PORT": "9200",
            "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_FRAME_BYTES": "2048",
        },
        overrides={"server": {"key": "flagkey"}},
    )
    assert config.server.port == 9200
    assert config.server.key == "flagkey"
    assert config.server.limits.max_frame_bytes == 2048


def test_env_lists_are_comma_separated() -> None:
    config = load_config(
        None, environ={"PATHFINDER_BRIDGE_SERVER_ALLOWED_ORIGINS": "http://a:1, http://b"}
    )
    assert config.server.allowed_origins == ("http://a:1", "http://b")


def test_ice_servers_parse() -> None:
    config = load_config(
        None,
        environ={},
        overrides={
            "client": {
                "ice_servers": [
                    {"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "p"}
                ]
            }
        },
    )
    assert config.client.ice_servers[0].urls == ("turn:127.0.0.1:3478",)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("server:\n  port: 70000\n", "server.port"),
        ("server:\n  port: nine\n", "server.port"),
        ("server:\n  prot: 1\n", "server.prot"),
        ("server:\n  limits:\n    max_frame_bytes: 1\n", "server.limits.max_frame_bytes"),
        ("server:\n  allow_discovery: maybe\n", "server.allow_discovery"),
        ("server:\n  path: nopath\n", "server.path"),
        ("client:\n  server_url: ws//x\n", "client.server_url"),
        ("client:\n  ice_servers: [{urls: ['http://x']}]\n", "client.ice_servers[0].urls"),
        ("server: 3\n", "server"),
        ("browser:\n  action_timeout: -1\n", "browser.action_timeout"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(key + ":"), str(info.value)


def test_bad_env_value_names_its_key() -> None:
    with pytest.raises(ConfigError, match=r"^server\.port:"):
        load_config(None, environ={"PATHFINDER_BRIDGE_SERVER_PORT": "x"})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, environ={})
