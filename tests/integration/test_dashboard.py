"""deploy/grafana-dashboard.json asks only for what the server exports, and what it exports
follows Prometheus's naming conventions. The server runs in cluster mode (a real
redis-server), the mode that exports the most."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.signaling.server import SignalingServer
from tests.integration.conftest import FAST
from tests.servers import ROOT, RedisServer

DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\bpathfinder_[a-z0-9_]+")


@pytest.fixture
async def exported() -> AsyncIterator[dict[str, str]]:
    """Metric name -> type, from a cluster instance's /metrics text."""
    with RedisServer() as redis:
        config = dataclasses.replace(FAST, redis_url=redis.url)
        async with SignalingServer(config) as server:
            text = server.metrics_text()
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    yield types


def histogram_family(name: str, exported: dict[str, str]) -> str:
    """`x_bucket`, `x_sum` and `x_count` are series of the histogram `x`."""
    for suffix in ("_bucket", "_sum", "_count"):
        family = name.removesuffix(suffix)
        if family != name and exported.get(family) == "histogram":
            return family
    return name


def panel_queries(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    queries = []
    for panel in dashboard["panels"]:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        queries += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


async def test_every_panel_queries_metrics_the_server_exports(exported: dict[str, str]) -> None:
    queries = panel_queries(DASHBOARD)
    used = set()
    for title, expr in queries:
        names = METRIC_NAME.findall(expr)
        assert names, f"{title!r}: {expr!r} names no pathfinder metric"
        for name in names:
            family = histogram_family(name, exported)
            assert family in exported, (
                f"{title!r} asks for {name}, which the server does not export"
            )
            if exported[family] in ("counter", "histogram"):
                assert "rate(" in expr or "increase(" in expr, f"{title!r}: a counter unrated"
            used.add(family)
    # And the dashboard shows every family the server exports.
    assert used == set(exported), sorted(set(exported) - used)


async def test_metric_names_follow_prometheus_conventions(exported: dict[str, str]) -> None:
    for name, kind in exported.items():
        assert re.fullmatch(r"pathfinder_signaling_[a-z][a-z0-9_]*", name), name
        if kind == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
        elif kind == "histogram":
            assert name.endswith("_seconds"), f"histogram {name} must end in its unit"
        else:
            assert kind == "gauge" and not name.endswith("_total"), name
        # Units are spelled out, in base units.
        assert not re.search(r"_(ms|milliseconds|kb|kib|mb|mib)(_|$)", name), name
