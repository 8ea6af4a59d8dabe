"""Builds the real-panel host script (`bridge/sandbox/host/`) once, and caches it by content hash.

The host's npm dependencies (pinned in its own package.json and lockfile) are installed into
the user's cache folder, never into the repository; esbuild bundles host.js with them into one
script, named by the hash of every source file, so runs after the first cost nothing. Two
processes building at once take turns on a lock file. The sources are read through
importlib.resources (they ship in the wheel) and copied beside the dependencies to be built.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from bridge.errors import BridgeError

logger = logging.getLogger("bridge.sandbox")

HOST_SOURCES = resources.files("bridge.sandbox").joinpath("host")
DEPENDENCY_FILES = ("package.json", "package-lock.json")
SOURCE_FILES = (*DEPENDENCY_FILES, "host.js", "build.mjs")
NPM_TIMEOUT = 900.0
BUILD_TIMEOUT = 300.0


class HostBuildError(BridgeError):
    """The host script for the real panel could not be built."""


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/pathfinder-bridge` (default `~/.cache/pathfinder-bridge`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pathfinder-bridge"


def _digest(names: tuple[str, ...]) -> str:
    sha = hashlib.sha256()
    for name in names:
        sha.update(name.encode() + b"\0" + HOST_SOURCES.joinpath(name).read_bytes() + b"\0")
    return sha.hexdigest()[:16]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(args: list[str], cwd: Path, timeout: float, what: str) -> None:
    logger.info("[Sandbox] %s: %s", what, " ".join(args))
    try:
        result = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise HostBuildError(f"{what} took longer than {timeout:g} s") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise HostBuildError(f"{what} failed ({result.returncode}): " + " / ".join(detail))


def _copy_source(name: str, folder: Path) -> None:
    (folder / name).write_bytes(HOST_SOURCES.joinpath(name).read_bytes())


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise HostBuildError(
            "the real panel needs Node.js and npm once, to build its host script "
            "(apt-get install nodejs npm); without --pathfinder the sandbox needs neither"
        )
    return node, npm


def dependencies_folder(root: Path | None = None) -> Path:
    """The host's node_modules parent, installed (`npm ci`) on first use."""
    root = root or cache_root()
    folder = root / f"host-deps-{_digest(DEPENDENCY_FILES)}"
    stamp = folder / "node_modules" / ".installed"
    if stamp.is_file():
        return folder
    _node, npm = _tools()
    with _locked(root):
        if stamp.is_file():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in DEPENDENCY_FILES:
            _copy_source(name, folder)
        _run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            folder,
            NPM_TIMEOUT,
            "installing the host's npm packages",
        )
        stamp.touch()
    return folder


def host_bundle(root: Path | None = None) -> Path:
    """The built host script; built (about a minute the first time) when not cached yet."""
    root = root or cache_root()
    bundle = root / f"host-{_digest(SOURCE_FILES)}.js"
    if bundle.is_file():
        return bundle
    node, _npm = _tools()
    deps = dependencies_folder(root)
    with _locked(root):
        if bundle.is_file():
            return bundle
        _copy_source("build.mjs", deps)
        _copy_source("host.js", deps)
        partial = bundle.with_suffix(".partial.js")
        _run(
            [
                node,
                str(deps / "build.mjs"),
                str(deps / "host.js"),
                str(partial),
                str(deps / "node_modules"),
            ],
            deps,
            BUILD_TIMEOUT,
            "bundling the host script",
        )
        partial.replace(bundle)
        legal = partial.with_name(partial.name + ".LEGAL.txt")
        if legal.exists():
            legal.replace(bundle.with_name(bundle.name + ".LEGAL.txt"))
    return bundle


def esbuild(root: Path | None = None) -> Path:
    """The host's esbuild binary (the tests bundle upstream sources with it)."""
    return dependencies_folder(root) / "node_modules" / ".bin" / "esbuild"
