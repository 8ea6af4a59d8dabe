"""The guide a docs panel shows, and which step a click names (bridge/browser/guide.py)."""

from __future__ import annotations

from bridge.browser.guide import Guide, step_shown


def guide(url: str, *step_ids: str) -> Guide:
    raw = {
        "url": url,
        "steps": [
            {"stepId": s, "action": {"targetAction": "highlight", "refTarget": f"#{s}"}}
            for s in step_ids
        ],
    }
    found = Guide.from_page(raw)
    assert found is not None
    return found


def test_a_step_shown_now() -> None:
    now = guide("backend-guide:g", "a", "b")
    step = step_shown("b", now, None)
    assert step is not None and step.number == 1 and step.action.refTarget == "#b"


def test_a_step_folded_away_since_the_last_read_of_the_same_guide() -> None:
    before, now = guide("backend-guide:g", "a", "b"), guide("backend-guide:g", "c")
    step = step_shown("b", now, before)
    assert step is not None and step.action.refTarget == "#b"


def test_nothing_from_another_guide_or_without_a_guide() -> None:
    assert step_shown("b", guide("backend-guide:other", "c"), guide("backend-guide:g", "b")) is None
    assert step_shown("b", None, guide("backend-guide:g", "b")) is None
    assert step_shown("x", guide("backend-guide:g", "a"), guide("backend-guide:g", "b")) is None
