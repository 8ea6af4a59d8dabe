"""The package as users get it: the wheel built by `python -m build`, installed (not editable)
into a fresh venv outside the repository, then run from there as `pathfinder-bridge`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge import __version__
from tests.conftest import UNIT
from tests.servers import ROOT, CliProcess, free_port

#: Nothing from the checkout may leak into the installed runs.
CLEAN_ENV = {
    "PYTHONPATH": "",
    "PATHFINDER_BRIDGE_SELECTORS_DIR": "",
    "PATHFINDER_BRIDGE_CONFIG": "",
    "PATHFINDER_DIST": "",  # .ci/run sets it for the real-panel tier; these runs are the default
}


@dataclass(frozen=True)
class Installed:
    dist: Path
    venv: Path
    home: Path  # the working folder of the installed runs, outside the repository

    @property
    def program(self) -> list[str]:
        return [str(self.venv / "bin" / "pathfinder-bridge")]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.program, *args],
            cwd=self.home,
            env={**os.environ, **CLEAN_ENV},
            capture_output=True,
            text=True,
            timeout=timeout * UNIT,
        )

    def cli(self, *args: str, stdin: bool = False) -> CliProcess:
        return CliProcess(*args, stdin=stdin, env=CLEAN_ENV, program=self.program, cwd=self.home)


def _run(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout * UNIT
    )
    assert result.returncode == 0, (
        f"{args[:4]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist, venv, home = base / "dist", base / "venv", base / "home"
    home.mkdir()
    # sdist first, then the wheel built from the unpacked sdist: both must carry the data.
    _run(
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--outdir",
        str(dist),
        str(ROOT),
        cwd=base,
        timeout=180,
    )
    _run(sys.executable, "-m", "venv", str(venv), cwd=base, timeout=120)
    (wheel,) = dist.glob("*.whl")
    _run(str(venv / "bin" / "pip"), "install", "--quiet", str(wheel), cwd=home, timeout=600)
    yield Installed(dist, venv, home)


def test_twine_check_passes(installed: Installed) -> None:
    files = sorted(str(p) for p in installed.dist.iterdir())
    assert len(files) == 2  # the sdist and the wheel
    result = _run(
        sys.executable, "-m", "twine", "check", "--strict", *files, cwd=installed.home, timeout=60
    )
    assert result.stdout.count("PASSED") == 2


def test_wheel_carries_the_data_from_its_sources(installed: Installed) -> None:
    (wheel,) = installed.dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    selectors = sorted(p.name for p in (ROOT / "selectors").iterdir())
    assert selectors and {f"bridge/contract_data/{name}" for name in selectors} <= names
    for folder in (
        "bridge/sandbox/guides",
        "bridge/sandbox/static",
        "bridge/sandbox/host",
        "bridge/browser/js",
    ):
        files = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_file())
        assert files and {f"{folder}/{name}" for name in files} <= names, folder
    assert not any(name.startswith("selectors/") for name in names)  # no top-level module


def test_installed_copy_runs_outside_the_repository(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import bridge; print(bridge.__file__)"],
        cwd=installed.home,
        env={**os.environ, **CLEAN_ENV},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed.venv)) and "site-packages" in where
    version = installed.run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"pathfinder-bridge {__version__}"


def test_installed_sandbox_serves_a_guide(installed: Installed) -> None:
    with installed.cli("sandbox", "--port", "0", "--grafana-version", "11.0.0") as sandbox:
        url = sandbox.wait_for(lambda line: line.startswith("  URL:")).split()[-1]
        guide = sandbox.wait_for(lambda line: "/guides/welcome-tour" in line).split()[1]
        sandbox.wait_for(lambda line: line == "Ready")
        assert guide == f"{url}/guides/welcome-tour"
        with urllib.request.urlopen(f"{url}/api/guides/welcome-tour.json", timeout=5 * UNIT) as r:
            assert json.load(r)["id"] == "welcome-tour"
        with urllib.request.urlopen(guide, timeout=5 * UNIT) as r:
            page = r.read().decode()
        assert '"selectorTable": "11.0.0"' in page and "pathfinder.js" in page
        with urllib.request.urlopen(f"{url}/static/pathfinder.js", timeout=5 * UNIT) as r:
            assert r.status == 200


def test_installed_session_without_browser(installed: Installed) -> None:
    port = free_port()
    server = f"http://127.0.0.1:{port}/pathfinder"
    with installed.cli("signal", "--port", str(port)) as signal:
        signal.wait_for(lambda line: line == "Ready for connections")
        with installed.cli("present", "--no-browser", "--server", server, stdin=True) as presenter:
            code = presenter.wait_for(lambda line: line.startswith("Join code: "))
            with installed.cli(
                "follow",
                code.removeprefix("Join code: "),
                "--no-browser",
                "--json",
                "--name",
                "Wheel",
                "--server",
                server,
            ) as follower:
                assert json.loads(follower.wait_for(lambda line: True))["type"] == "session_start"
                presenter.wait_for(lambda line: line == "+ Wheel joined (guided mode)")
                presenter.write(
                    json.dumps(
                        {
                            "type": "show_me",
                            "stepId": "w1",
                            "action": {"targetAction": "highlight", "refTarget": "#x"},
                        }
                    )
                )
                event = json.loads(follower.wait_for(lambda line: '"show_me"' in line))
                assert event["stepId"] == "w1"
                assert presenter.stop() == 0
                assert follower.process.wait(15 * UNIT) == 0
    assert "Traceback" not in presenter.stderr + follower.stderr


def test_installed_demo(installed: Installed) -> None:
    result = installed.run("demo", "--pause", "0", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for name in ("Grace", "Finn"):
        (summary,) = [line for line in lines if line.startswith(f"{name}: ")]
        done, total = summary.split()[1].split("/")
        assert int(total) > 0 and done == total, summary
