"""The Grafana and Pathfinder DOM contract, read from the data files in `selectors/`.

Grafana selectors come from tables generated from `@grafana/e2e-selectors`, one per Grafana
version; like the package's own resolver, a running version uses the newest table at or below
it. Pathfinder's panel contract is `selectors/pathfinder.yaml`. No selector strings live in code.
The build packages `selectors/` into the wheel as `bridge/contract_data/` (pyproject.toml).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import BridgeError

ENV_SELECTORS_DIR = "PATHFINDER_BRIDGE_SELECTORS_DIR"


class ContractError(BridgeError):
    """A selector table or the Pathfinder contract is missing or does not have what we need."""


def selectors_dir() -> Traversable:
    """$PATHFINDER_BRIDGE_SELECTORS_DIR, else the copy inside an installed package, else the
    `selectors/` folder of a source checkout (editable installs, `python -m bridge` in the repo)."""
    override = os.environ.get(ENV_SELECTORS_DIR)
    if override:
        return Path(override)
    packaged = resources.files("bridge").joinpath("contract_data")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "selectors"


def version_key(version: str) -> tuple[int, ...]:
    """'12.0.0-pre' -> (12, 0, 0); unparsable parts count as 0."""
    parts = re.findall(r"\d+", version.split("-", 1)[0])[:3]
    return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))


@dataclass(frozen=True)
class GrafanaSelectors:
    grafana_version: str
    package_version: str
    table: dict[str, str]

    def value(self, path: str, argument: str | None = None) -> str:
        """The selector value of a leaf such as `components.NavMenu.item`."""
        try:
            template = self.table[path]
        except KeyError:
            raise ContractError(
                f"unknown Grafana selector {path!r} (Grafana {self.grafana_version})"
            ) from None
        if "{0}" in template:
            if argument is None:
                raise ContractError(f"Grafana selector {path!r} needs an argument: {path}:VALUE")
            return template.replace("{0}", argument)
        return template

    def css(self, path: str, argument: str | None = None) -> str:
        """As Grafana's e2e helpers match it: a `data-testid ...` value is the whole testid."""
        value = self.value(path, argument).replace("\\", "\\\\").replace('"', '\\"')
        attribute = "data-testid" if value.startswith("data-testid") else "aria-label"
        return f'[{attribute}="{value}"]'


def available_grafana_versions() -> list[str]:
    folder = selectors_dir()
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    versions = [
        name.removeprefix("grafana-").removesuffix(".json")
        for name in names
        if name.startswith("grafana-") and name.endswith(".json")
    ]
    return sorted(versions, key=version_key)


@functools.lru_cache(maxsize=16)
def grafana_selectors(version: str) -> GrafanaSelectors:
    """The table for `version`: the newest generated table at or below it (or the oldest)."""
    versions = available_grafana_versions()
    if not versions:
        raise ContractError(f"no Grafana selector tables in {selectors_dir()}")
    wanted = version_key(version)
    eligible = [v for v in versions if version_key(v) <= wanted]
    chosen = eligible[-1] if eligible else versions[0]
    table = selectors_dir().joinpath(f"grafana-{chosen}.json")
    data = json.loads(table.read_text(encoding="utf-8"))
    return GrafanaSelectors(chosen, str(data["source"]["version"]), dict(data["selectors"]))


@dataclass(frozen=True)
class PathfinderContract:
    version: str
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def step_selector(self) -> str:
        return str(self.data["step"]["selector"])

    def attribute(self, name: str) -> str:
        return str(self.data["step"]["attributes"][name])

    def to_json(self) -> str:
        """The contract for the in-page scripts (our own data file, serialized as JSON)."""
        return json.dumps(self.data)


@functools.lru_cache(maxsize=4)
def pathfinder_contract(version: str | None = None) -> PathfinderContract:
    path = selectors_dir().joinpath("pathfinder.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"cannot read {path}: {exc}") from None
    chosen = version or str(data["default"])
    if chosen not in data["versions"]:
        raise ContractError(f"{path} has no Pathfinder version {chosen!r}")
    return PathfinderContract(chosen, dict(data["versions"][chosen]))
