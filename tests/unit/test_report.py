"""The session report's model, histogram and page, without a browser."""

from __future__ import annotations

from html.parser import HTMLParser

from bridge.protocol.events import DoIt, InteractiveAction, Navigation, ShowMe, TargetAction
from bridge.report.histogram import bins, histogram_svg
from bridge.report.html import render_report
from bridge.report.model import Outcome, ReportBuilder, event_key

T0 = 1_700_000_000_000.0


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_bins_cover_every_value_up_to_a_round_top() -> None:
    table = bins([0.4, 3.0, 7.9, 49.0], count=10)
    assert table[-1].high == 50.0
    assert sum(b.count for b in table) == 4
    assert bins([]) == []
    assert "No latencies" in histogram_svg([])


def test_a_report_holds_the_events_the_results_and_escapes_peer_text() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    show = ShowMe(
        stepId=hostile,
        action=InteractiveAction(TargetAction.HIGHLIGHT, "#a"),
        seq=1,
        timestamp=int(T0 + 500),
    )
    do = DoIt(stepId="s2", action=InteractiveAction(TargetAction.BUTTON, "Save"), seq=2)
    guide = Navigation(tutorialUrl="https://grafana.com/docs/x/", timestamp=int(T0 + 100))
    builder = ReportBuilder("Report", "click to replay done", T0, "W", "abc123", "g")
    builder.attendee(hostile, "guided", browser=True)
    builder.attendee("Finn", "follow", browser=False)
    for event, at in ((show, T0 + 500), (do, T0 + 900), (guide, T0 + 100)):
        builder.event(event_key(event), at, event)
    builder.result(hostile, "seq:1", Outcome.OK, latency_ms=12.0, screenshot="shots/a.jpg")
    builder.result("Finn", "seq:2", Outcome.FAILED, reason=hostile, latency_ms=40.0)
    builder.result("Finn", "seq:1", Outcome.SKIPPED, reason="not connected")
    report = builder.build()
    assert [e.type for e in report.timeline] == ["navigation", "show_me", "do_it"]
    assert report.latencies == [12.0, 40.0]

    page = render_report(report)
    assert hostile not in page
    parsed = Elements()
    parsed.feed(page)
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert [img["src"] for img in images] == ["shots/a.jpg"]
    assert sum(1 for tag, attrs in parsed.tags if tag == "tr" and attrs.get("data-key")) == 6
    assert sum(1 for tag, _ in parsed.tags if tag == "svg") == 1
    assert sum(1 for tag, _ in parsed.tags if tag in ("script", "link")) == 0
    text = "".join(parsed.text)
    assert hostile in text  # shown as text, never as markup
    assert "not connected" in text


def test_latencies_no_clock_could_give_do_not_cost_the_report() -> None:
    """Red-team finding 8: a timestamp of -1e308 made a latency of 1e308, and the report
    was lost to an OverflowError."""
    hostile = [1e308, -1e308, float("inf"), float("nan"), 1.5e308, 42.0]
    assert sum(b.count for b in bins(hostile)) == 4  # the finite ones, capped
    assert "<svg" in histogram_svg(hostile)
    builder = ReportBuilder(title="t", latency_meaning="m", started_ms=0)
    event = ShowMe(stepId="s1", action=InteractiveAction(TargetAction.HIGHLIGHT, "#x"))
    builder.event(event_key(event), 1.7e12, event)
    for n, latency in enumerate(hostile):
        builder.result(f"a{n}", event_key(event), Outcome.OK, latency_ms=latency)
    assert "<html" in render_report(builder.build())
