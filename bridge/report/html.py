"""A SessionReport as one self-contained HTML page, sans-I/O.

No external assets: the style is inline, the histogram is inline SVG, screenshots are files
beside the page named by relative paths, so the folder opens from disk anywhere. Everything
that came from a peer (names, steps, reasons, selectors) is escaped.
"""

from __future__ import annotations

import datetime
from html import escape

from bridge.percentiles import describe_ms, percentile
from bridge.report.histogram import histogram_svg
from bridge.report.model import AttendeeResult, Outcome, SessionReport

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: #1a7f37; } .failed { color: #cf222e; font-weight: 600; } .skipped { color: #6e7781; }
code { font-size: 12px; }
img.shot { width: 320px; border: 1px solid #d0d7de; display: block; }
.histogram rect { fill: #0969da; } .histogram .axis { stroke: #57606a; }
.histogram text { font-size: 11px; fill: #57606a; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: 600; }
"""
MAX_COLUMNS = 10


def _time(epoch_ms: float) -> str:
    stamp = datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(result: AttendeeResult | None) -> str:
    if result is None:
        return '<td class="skipped">-</td>'
    reason = f"<br><small>{escape(result.reason)}</small>" if result.reason else ""
    return f'<td class="{result.outcome.value}">{result.outcome.value}{reason}</td>'


def render_report(report: SessionReport) -> str:
    out: list[str] = []
    add = out.append
    add("<!doctype html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>")
    add(f"<h1>{escape(report.title)}</h1>")
    add("<dl>")
    for label, value in (
        ("Session", f"{report.session_name} ({report.session_id})"),
        ("Guide", report.guide or "-"),
        ("Started", _time(report.started_ms)),
        ("Attendees", str(len(report.attendees))),
        ("Events", str(len(report.timeline))),
    ):
        add(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>")
    add("</dl>")
    for note in report.notes:
        add(f'<p class="note">{escape(note)}</p>')

    counts = {outcome: 0 for outcome in Outcome}
    for result in report.results:
        counts[result.outcome] += 1
    latencies = report.latencies
    add("<h2>Summary</h2>")
    add('<table id="summary"><tr><th>ok</th><th>skipped</th><th>failed</th>')
    add(f"<th>{escape(report.latency_meaning)} p50</th><th>p99</th></tr><tr>")
    for outcome in Outcome:
        add(f'<td class="num">{counts[outcome]}</td>')
    add(f'<td class="num">{describe_ms(percentile(latencies, 50))}</td>')
    add(f'<td class="num">{describe_ms(percentile(latencies, 99))}</td></tr></table>')

    add("<h2>Timeline</h2>")
    add('<table id="timeline"><tr><th>#</th><th>time</th><th>event</th><th>step</th>')
    add("<th>what</th><th>ok / results</th>")
    # Beside the timeline: every attendee of a small session, the browser ones of a swarm.
    columns = [a for a in report.attendees if len(report.attendees) <= MAX_COLUMNS or a.browser][
        :MAX_COLUMNS
    ]
    for attendee in columns:
        add(f"<th>{escape(attendee.name)}</th>")
    add("</tr>")
    per_event: dict[str, list[AttendeeResult]] = {}
    for result in report.results:
        per_event.setdefault(result.event_key, []).append(result)
    for number, event in enumerate(report.timeline, start=1):
        add(
            f'<tr data-key="{escape(event.key)}"><td class="num">{number}</td>'
            f'<td class="num">{event.offset_ms / 1000:.3f} s</td>'
            f"<td>{escape(event.type)}</td><td><code>{escape(event.step)}</code></td>"
            f"<td><code>{escape(event.summary)}</code></td>"
        )
        results = per_event.get(event.key, [])
        ok = sum(1 for r in results if r.outcome is Outcome.OK)
        add(f'<td class="num">{ok} / {len(results)}</td>')
        for attendee in columns:
            add(_cell(report.result(attendee.name, event.key)))
        add("</tr>")
    add("</table>")

    add(f"<h2>Latency ({escape(report.latency_meaning)})</h2>")
    add(histogram_svg(latencies))

    add("<h2>Attendees</h2>")
    add('<table id="attendees"><tr><th>name</th><th>mode</th><th>kind</th><th>note</th></tr>')
    for attendee in report.attendees:
        kind = "browser" if attendee.browser else "without a browser"
        add(
            f"<tr><td>{escape(attendee.name)}</td><td>{escape(attendee.mode)}</td>"
            f"<td>{kind}</td><td>{escape(attendee.note)}</td></tr>"
        )
    add("</table>")

    add("<h2>Results</h2>")
    add('<table id="results"><tr><th>attendee</th><th>#</th><th>event</th><th>result</th>')
    add("<th>reason</th><th>latency</th><th>screenshot</th></tr>")
    numbers = {event.key: i for i, event in enumerate(report.timeline, start=1)}
    summaries = {event.key: event.summary for event in report.timeline}
    for result in report.results:
        shot = ""
        if result.screenshot:
            src = escape(result.screenshot)
            alt = escape(f"{result.attendee} after event {numbers.get(result.event_key, '?')}")
            shot = f'<a href="{src}"><img class="shot" src="{src}" alt="{alt}"></a>'
        add(
            f'<tr data-key="{escape(result.event_key)}">'
            f"<td>{escape(result.attendee)}</td>"
            f'<td class="num">{numbers.get(result.event_key, "")}</td>'
            f"<td><code>{escape(summaries.get(result.event_key, result.event_key))}</code></td>"
            f'<td class="{result.outcome.value}">{result.outcome.value}</td>'
            f"<td>{escape(result.reason)}</td>"
            f'<td class="num">{describe_ms(result.latency_ms)}</td><td>{shot}</td></tr>'
        )
    add("</table>")
    add("</body></html>")
    return "\n".join(out)
