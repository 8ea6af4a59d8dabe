"""`demo --pathfinder DIST`: Rita, a real-panel attendee beside Grace and Finn, in the summary
with what the original did with each event, as a user runs the demo."""

from __future__ import annotations

import os
import re

from tests.servers import CliProcess

#: welcome-tour's events, and what the original's replay does with each: a highlight over the
#: element ours highlights, or its own "Element not found" for a target it cannot resolve.
EXPECTED_RITA = {
    "show_me open-menu": "failed: Element not found: grafana:components.NavBar.Toggle.button",
    "do_it open-menu": "failed: Element not found: grafana:components.NavBar.Toggle.button",
    "show_me dashboards-link": "failed: Element not found: "
    "{grafana:components.NavMenu.item}[href='/dashboards']",
    "do_it dashboards-link": "failed: Element not found: "
    "{grafana:components.NavMenu.item}[href='/dashboards']",
    "show_me hover-explore": 'failed: Element not found: nav a:contains("Explore")',
    "do_it hover-explore": 'failed: Element not found: nav a:contains("Explore")',
    "do_it go-dashboards": "failed: Element not found: /dashboards",
    "show_me dismiss-news": "ok: highlight button 'Got it'",
    "do_it dismiss-news": "ok: highlight button 'Got it'",
    "show_me new-button": "ok: highlight button 'New'",
    "do_it new-button": "ok: highlight button 'New'",
}


def test_demo_with_a_real_panel_attendee() -> None:
    with CliProcess("demo", "--pause", "0", "--pathfinder", os.environ["PATHFINDER_DIST"]) as demo:
        assert demo.process.wait(180) == 0, demo.stderr[-2000:]
        lines = []
        while (line := demo.lines.get()) is not None:
            lines.append(line)
    flow = {}
    for line in lines:
        match = re.match(r"\s*[\d.]+s  Rita\s+(show_me|do_it)\s+(\S+): (.*)$", line)
        if match:
            flow[f"{match[1]} {match[2]}"] = match[3]
    assert flow == EXPECTED_RITA, lines
    # She follows along as a person does: each step done in her own panel.
    done = [line.split()[-2] for line in lines if re.match(r"\s*[\d.]+s  Rita\s+did ", line)]
    assert done == [key.split()[1] for key in EXPECTED_RITA if key.startswith("do_it")], lines
    assert "Grace: 11/11 replays ok" in lines and "Finn: 11/11 replays ok" in lines, lines
    assert "Rita: 4/11 replays ok" in lines, lines
