"""The sandbox's real-panel mode: what the sandbox serves so a built Pathfinder plugin runs in it.

The plugin's own files come from its build folder (`--pathfinder DIST`, never copied), under
the path Grafana serves plugins from; the host script (`bridge/sandbox/host/`, built by
`host_bundle`) plays Grafana's part in the page. The server side answers the few APIs the
plugin calls: its settings (Live Sessions on, pointed at our signaling server) and the
app-platform guide API, through which the sandbox's own guides open in the real panel as
`backend-guide:ID` (the plugin only fetches https docs URLs from grafana.com otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bridge.errors import BridgeError

PLUGIN_ID = "grafana-pathfinder-app"
PLUGIN_URL = f"/public/plugins/{PLUGIN_ID}"
SETTINGS_API = f"/api/plugins/{PLUGIN_ID}/settings"
NAMESPACE = "default"
GUIDES_API = (
    f"/apis/pathfinderbackend.ext.grafana.app/v1alpha1/namespaces/{NAMESPACE}/interactiveguides"
)
#: The feature toggle under which the plugin lists app-platform guides in its panel.
GUIDES_TOGGLE = "aggregation.pathfinderbackend-ext-grafana-app.enabled"
#: How the real panel names a sandbox guide (`?doc=api:ID` opens it too).
GUIDE_SCHEME = "backend-guide:"
#: The PeerJS path is fixed in the plugin (session-manager.ts); host, port and key are settings.
PEERJS_PATH = "/pathfinder"


class PathfinderDistError(BridgeError):
    """The folder given as the built plugin is not one."""


@dataclass(frozen=True)
class PluginBuild:
    """A built Pathfinder plugin: a folder with plugin.json and module.js."""

    folder: Path
    version: str

    @classmethod
    def open(cls, folder: Path) -> PluginBuild:
        folder = folder.expanduser().resolve()
        manifest = folder / "plugin.json"
        if not folder.is_dir():
            raise PathfinderDistError(f"--pathfinder: {folder} is not a folder")
        if not manifest.is_file() or not (folder / "module.js").is_file():
            raise PathfinderDistError(
                f"--pathfinder: {folder} has no plugin.json and module.js; point it at the "
                "plugin's build output (the dist/ folder of `npm run build`)"
            )
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PathfinderDistError(f"--pathfinder: cannot read {manifest}: {exc}") from None
        if not isinstance(data, dict) or data.get("id") != PLUGIN_ID:
            raise PathfinderDistError(
                f"--pathfinder: {manifest} is not Pathfinder's (its id is not {PLUGIN_ID})"
            )
        info = data.get("info")
        version = info.get("version") if isinstance(info, dict) else None
        return cls(folder, str(version or "unknown"))

    def file(self, relative: str) -> Path | None:
        """A file of the build by its URL path, or None (never outside the folder)."""
        target = (self.folder / unquote(relative)).resolve()
        if self.folder not in target.parents or not target.is_file():
            return None
        return target


@dataclass(frozen=True)
class PeerServer:
    """Where the plugin's PeerJS client meets its peers: our signaling server."""

    host: str
    port: int
    key: str
    secure: bool

    @classmethod
    def parse(cls, url: str, key: str) -> PeerServer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise BridgeError(f"--server: {url!r} is not http(s)://HOST:PORT{PEERJS_PATH}")
        path = parts.path.rstrip("/") or PEERJS_PATH
        if path != PEERJS_PATH:
            raise BridgeError(
                f"--server: Pathfinder always uses the path {PEERJS_PATH}; {url!r} has {path}"
            )
        secure = parts.scheme in ("https", "wss")
        return cls(parts.hostname, parts.port or (443 if secure else 80), key, secure)


def plugin_settings(peers: PeerServer) -> dict[str, Any]:
    """What `GET /api/plugins/<id>/settings` answers: enabled, Live Sessions on."""
    return {
        "id": PLUGIN_ID,
        "type": "app",
        "enabled": True,
        "pinned": False,
        "jsonData": {
            "enableLiveSessions": True,
            "peerjsHost": peers.host,
            "peerjsPort": peers.port,
            "peerjsKey": peers.key,
            "peerjsSecure": peers.secure,
        },
    }


def guide_resource(guide: dict[str, Any]) -> dict[str, Any]:
    """A sandbox guide as an app-platform InteractiveGuide object."""
    spec = {
        "id": guide["id"],
        "title": guide["title"],
        "schemaVersion": str(guide.get("schemaVersion", "1.0.0")),
        "blocks": guide["blocks"],
        "status": "published",
    }
    return {
        "apiVersion": "pathfinderbackend.ext.grafana.app/v1alpha1",
        "kind": "InteractiveGuide",
        "metadata": {"name": guide["id"], "namespace": NAMESPACE},
        "spec": spec,
    }


def boot_data(version: str, user: str, build: PluginBuild, panel_root: str) -> dict[str, Any]:
    """What the host page adds to `window.grafanaBootData` for the plugin."""
    return {
        "settings": {
            "buildInfo": {"version": version, "versionString": f"Grafana v{version} (sandbox)"},
            "appSubUrl": "",
            "namespace": NAMESPACE,
            "featureToggles": {GUIDES_TOGGLE: True},
        },
        "user": {
            "id": 1,
            "uid": "sandbox-admin",
            "login": user,
            "name": user,
            "email": f"{user}@sandbox.invalid",
            "isSignedIn": True,
            "orgId": 1,
            "orgRole": "Admin",
            "isGrafanaAdmin": True,
            "language": "en-US",
            "locale": "en-US",
            "theme": "dark",
        },
        "pathfinderHost": {
            "pluginId": PLUGIN_ID,
            "pluginUrl": PLUGIN_URL,
            "panelRoot": panel_root,
            "pluginVersion": build.version,
        },
    }


@dataclass(frozen=True)
class RealPanel:
    """Everything the sandbox needs to run the real panel instead of its imitation."""

    build: PluginBuild
    host_bundle: Path  # host.js, built by bridge.sandbox.host_bundle
    peers: PeerServer

    @classmethod
    def prepare(cls, dist: Path, signaling_url: str, key: str) -> RealPanel:
        """Check the build and the server URL, then build (or reuse) the host script."""
        from bridge.sandbox.host_bundle import host_bundle

        build = PluginBuild.open(dist)
        peers = PeerServer.parse(signaling_url, key)
        return cls(build, host_bundle(), peers)


ENV_DIST = "PATHFINDER_DIST"


def dist_from(flag: str | None, environ: dict[str, str]) -> Path | None:
    """`--pathfinder DIST`, else `$PATHFINDER_DIST`, else None (the imitation)."""
    value = flag or environ.get(ENV_DIST)
    return Path(value) if value else None
