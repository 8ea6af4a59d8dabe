"""Session events for the tier: one of every type a presenter sends, as Pathfinder's
collaboration.types.ts defines them (without the base fields the sender adds)."""

from __future__ import annotations

from typing import Any

GUIDE = "https://grafana.com/docs/learning-journeys/drilldown-logs/"
#: Over 16,300 bytes once BinaryPack-encoded: PeerJS chunks it, both sides reassemble it.
LONG_QUERY = "sum by (job) (rate(http_requests_total[5m])) " * 460

#: One event of every type a presenter sends, in an order a session could have; `end` last:
#: our attendee ends its session on it (Pathfinder's only passes it to its handlers).
EVENTS: list[dict[str, Any]] = [
    {
        "type": "show_me",
        "stepId": "step-1",
        "action": {
            "targetAction": "highlight",
            "refTarget": "a[data-testid='data-testid Nav menu item'][href='/dashboards']",
            "targetComment": "Dashboards live here",
        },
        "coordinates": {"x": 12, "y": 40},
    },
    {"type": "do_it", "stepId": "step-2", "action": {"targetAction": "button", "refTarget": "New"}},
    {
        "type": "do_it",
        "stepId": "step-3",
        "action": {
            "targetAction": "formfill",
            "refTarget": "input[name='title']",
            "targetValue": "CPU",
        },
    },
    {
        "type": "show_me",
        "stepId": "step-4",
        "action": {"targetAction": "hover", "refTarget": "nav a"},
    },
    {
        "type": "do_it",
        "stepId": "step-5",
        "action": {"targetAction": "navigate", "refTarget": "/explore"},
    },
    {
        "type": "do_it",
        "stepId": "step-6",
        "action": {
            "targetAction": "multistep",
            "refTarget": "",
            "internalActions": [
                {"targetAction": "button", "refTarget": "New"},
                {
                    "targetAction": "formfill",
                    "refTarget": "input[name='title']",
                    "targetValue": "Ünïcødé ✓",
                    "requirements": "exists-reftarget",
                },
            ],
        },
    },
    {"type": "navigation", "tutorialUrl": GUIDE + "step-2/", "stepNumber": 2},
    {"type": "sync_state", "tutorialUrl": GUIDE + "step-2/", "stepNumber": 2},
    {"type": "chat_message", "senderName": "Presenter", "message": "Welcome 👋"},
    {"type": "pause"},
    {"type": "resume"},
    {
        "type": "do_it",
        "stepId": "step-7",
        "action": {
            "targetAction": "formfill",
            "refTarget": ".monaco-editor",
            "targetValue": LONG_QUERY,
        },
    },
    {"type": "end", "message": "That's all"},
]
