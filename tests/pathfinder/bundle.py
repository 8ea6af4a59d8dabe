"""Pathfinder's own code, bundled for Chromium at test time by tests/interop/bundle-pathfinder.mjs.

Upstream (grafana-pathfinder-app, AGPL-3.0) is read from the checkout that PATHFINDER_SRC names
and never copied into this repository. A bundle is built once per set of inputs: its file in
the cache is named by a hash of the entry, the stubs, the builder, the npm lockfile and every
file under the checkout's src/, so a rerun with nothing changed builds nothing. The cache is
outside the repository and the checkout: $PATHFINDER_BUNDLE_CACHE, else
$XDG_CACHE_HOME/pathfinder-bridge/pathfinder-bundles (~/.cache when unset).

A new bundle (upstream's `src/lib/dom` selector engine, say) is one more `BundleSpec`: an entry
file of ours in tests/pathfinder/bundle/ and stubs for whatever upstream imports that the test
does not run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import ROOT

BUNDLE_DIR = Path(__file__).parent / "bundle"
INTEROP = ROOT / "tests" / "interop"
BUILDER = INTEROP / "bundle-pathfinder.mjs"
#: A file every grafana-pathfinder-app checkout with Live Sessions has.
MARKER = Path("src/integrations/workshop/session-manager.ts")


class CheckoutError(Exception):
    """PATHFINDER_SRC does not name a usable checkout."""


@dataclass(frozen=True)
class BundleSpec:
    """One bundle: an entry file of ours and the upstream modules it replaces with stubs
    (a path in the checkout without extension, or a bare package name -> our stub file)."""

    entry: Path
    stubs: Mapping[str, Path] = field(default_factory=dict)


#: SessionManager, ActionCaptureSystem, join codes, session-crypto and fromBase64url on window.
LIVE_SESSIONS = BundleSpec(
    BUNDLE_DIR / "live-sessions.js", {"src/lib/logging": BUNDLE_DIR / "logging.js"}
)


def checkout_from(value: str) -> Path:
    """The checkout a PATHFINDER_SRC value names, or CheckoutError saying what is wrong."""
    checkout = Path(value).expanduser().resolve()
    if not (checkout / MARKER).is_file():
        raise CheckoutError(
            f"PATHFINDER_SRC={value} is not a grafana-pathfinder-app checkout: {MARKER} is missing"
        )
    return checkout


def cache_dir() -> Path:
    explicit = os.environ.get("PATHFINDER_BUNDLE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pathfinder-bridge" / "pathfinder-bundles"


def inputs_digest(spec: BundleSpec, checkout: Path) -> str:
    digest = hashlib.sha256()

    def add(label: str, path: Path) -> None:
        data = path.read_bytes()
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("builder", BUILDER)
    add("lockfile", INTEROP / "package-lock.json")
    add("entry", spec.entry)
    for name, stub in sorted(spec.stubs.items()):
        add(f"stub {name}", stub)
    for path in sorted(p for p in (checkout / "src").rglob("*") if p.is_file()):
        add(f"upstream {path.relative_to(checkout)}", path)
    return digest.hexdigest()[:24]


def build_bundle(spec: BundleSpec, checkout: Path) -> Path:
    """The bundle of `spec` built from `checkout`: from the cache, or built into it now."""
    folder = cache_dir()
    target = folder / f"{spec.entry.stem}-{inputs_digest(spec, checkout)}.js"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place: parallel runs never see half a file.
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        partial = Path(scratch) / target.name
        command = ["node", str(BUILDER), "--src", str(checkout), "--entry", str(spec.entry)]
        command += ["--out", str(partial)]
        for name, stub in spec.stubs.items():
            command += ["--stub", f"{name}={stub}"]
        result = subprocess.run(command, cwd=INTEROP, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"bundling {spec.entry.name} from {checkout} failed:\n{result.stderr}"
            )
        os.replace(partial, target)
    return target
