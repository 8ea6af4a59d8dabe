"""The guide an attendee's own docs panel shows, and which of its steps an event names (sans-I/O).

While a guide is open, a presenter's event is replayed only as one of that guide's steps (the
same step id, or the same action and target, as Pathfinder's attendee finds its own step), and
what is done comes from the attendee's own copy of the step, not from the event. So a hostile
presenter cannot aim an attendee's browser at anything the guide's author did not write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import ProtocolError
from bridge.protocol.events import InteractiveAction, StepEvent, parse_event

#: More steps than any guide has; a page that reports more is cut off here.
MAX_GUIDE_STEPS = 500


@dataclass(frozen=True)
class GuideStep:
    step_id: str
    action: InteractiveAction
    number: int  # its position in the guide, from 0


@dataclass(frozen=True)
class Guide:
    url: str
    steps: tuple[GuideStep, ...]

    @classmethod
    def from_page(cls, raw: Any) -> Guide | None:
        """What `js/guide_steps.js` read from a page: None when no guide is shown.

        Steps are parsed as events are, with the same limits; one that cannot be read is
        left out (it cannot be replayed either).
        """
        if not isinstance(raw, Mapping) or not isinstance(raw.get("url"), str):
            return None
        items = raw.get("steps")
        steps = []
        for number, item in enumerate(items[:MAX_GUIDE_STEPS] if isinstance(items, list) else []):
            step = step_from_page(item, number)
            if step is not None:
                steps.append(step)
        return cls(raw["url"][:2000], tuple(steps))

    def step(self, step_id: str) -> GuideStep | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    def step_for(self, event: StepEvent) -> GuideStep | None:
        """The guide's own step that `event` names: by step id, else by action and target."""
        if event.stepId and (by_id := self.step(event.stepId)) is not None:
            return by_id
        action, target = event.action.targetAction, event.action.refTarget.strip()
        return next(
            (
                step
                for step in self.steps
                if step.action.targetAction is action and step.action.refTarget.strip() == target
            ),
            None,
        )


def step_shown(step_id: str, now: Guide | None, before: Guide | None) -> GuideStep | None:
    """The step a presenter's click named, as the docs panel shows it now, else as it showed
    it when last read, if that was the same guide: the real panel folds a section away as soon
    as its last step is done, sometimes before the page can be read again."""
    if now is None:
        return None
    step = now.step(step_id)
    if step is None and before is not None and before.url == now.url:
        step = before.step(step_id)
    return step


def step_from_page(item: Any, number: int) -> GuideStep | None:
    """One step element's attributes (`{stepId, action}`) as a GuideStep, or None."""
    if not isinstance(item, Mapping):
        return None
    try:
        event = parse_event(
            {"type": "do_it", "stepId": item.get("stepId"), "action": item.get("action")}
        )
    except ProtocolError:
        return None
    assert isinstance(event, StepEvent)
    return GuideStep(event.stepId, event.action, number)
