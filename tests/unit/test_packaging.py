"""pyproject.toml lists every folder of bridge/ as a package, so nothing is left out of the wheel,
and the top-level selectors/ folder stays data only (it shares its name with a stdlib module)."""

from __future__ import annotations

import tomllib

from tests.servers import ROOT


def setuptools_table() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    table = data["tool"]["setuptools"]
    assert isinstance(table, dict)
    return table


def test_every_folder_of_bridge_is_packaged() -> None:
    folders = {
        ".".join(path.relative_to(ROOT).parts)
        for path in [ROOT / "bridge", *(ROOT / "bridge").rglob("*")]
        if path.is_dir() and path.name != "__pycache__"
    }
    listed = set(setuptools_table()["packages"])  # type: ignore[arg-type]
    assert listed - {"bridge.contract_data"} == folders


def test_selectors_folder_is_the_packaged_contract_data() -> None:
    table = setuptools_table()
    assert table["package-dir"] == {"bridge.contract_data": "selectors"}
    patterns = table["package-data"]["bridge.contract_data"]  # type: ignore[index]
    packaged = {p.name for pattern in patterns for p in (ROOT / "selectors").glob(pattern)}
    assert packaged == {p.name for p in (ROOT / "selectors").iterdir()}
    assert not list((ROOT / "selectors").rglob("*.py"))
