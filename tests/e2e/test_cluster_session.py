"""A Live Session on a cluster: our `present --no-browser` and `follow --no-browser` as real CLI
processes, with the presenter and the attendees on different instances of one realm (pinned),
and through HAProxy with clients that know nothing of instances."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import UNIT
from tests.servers import CliProcess, ClusterOfTwo, cluster_of_two

SHOW_ME = {
    "type": "show_me",
    "stepId": "s1",
    "action": {"targetAction": "highlight", "refTarget": "#panel"},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterOfTwo]:
    with cluster_of_two() as running:
        yield running


@pytest.mark.parametrize("route", ["pinned", "haproxy"])
def test_a_live_session_across_instances(cluster: ClusterOfTwo, route: str) -> None:
    if route == "pinned":
        presenter_url, attendee_urls = cluster.instance_urls[0], [cluster.instance_urls[1]] * 2
    else:
        presenter_url, attendee_urls = cluster.proxy_url, [cluster.proxy_url] * 2
    with CliProcess(
        "present",
        "--no-browser",
        "--server",
        presenter_url,
        "--name",
        "Workshop",
        "--guide",
        "https://grafana.com/docs/g/",
        stdin=True,
    ) as presenter:
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        code = code.removeprefix("Join code: ")
        attendees = [
            CliProcess("follow", code, "--no-browser", "--json", "--name", name, "--server", url)
            for name, url in zip(("Ada", "Grace"), attendee_urls, strict=True)
        ]
        try:
            for attendee in attendees:
                first = json.loads(attendee.wait_for(lambda line: True, 30 * UNIT))
                assert first["type"] == "session_start"
            joined = {"+ Ada joined (guided mode)", "+ Grace joined (guided mode)"}
            while joined:
                joined.discard(presenter.wait_for(lambda line: line in joined))
            presenter.write(json.dumps(SHOW_ME))
            for attendee in attendees:
                while True:
                    event = json.loads(attendee.wait_for(lambda line: True))
                    if event["type"] == "show_me":
                        break
                assert event["action"] == SHOW_ME["action"] and event["stepId"] == "s1"
            assert presenter.stop() == 0
            for attendee in attendees:
                assert attendee.process.wait(15 * UNIT) == 0
                assert "Session ended" in attendee.stderr
                assert "Traceback" not in attendee.stderr
        finally:
            for attendee in attendees:
                attendee.__exit__()
        assert "Traceback" not in presenter.stderr
    if route == "pinned":
        # The session's signaling crossed instances through Redis.
        import urllib.request

        with urllib.request.urlopen(cluster.instance_urls[1] + "/metrics", timeout=5) as r:
            text = r.read().decode()
        sent = [
            line
            for line in text.splitlines()
            if line.startswith('pathfinder_signaling_cluster_relays_total{direction="sent"}')
        ]
        assert sent and float(sent[0].split()[1]) > 0
