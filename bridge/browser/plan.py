"""The replay plan: what an attendee's browser does for one event, decided before acting (sans-I/O).

Guided mode turns show_me and do_it into a highlight. Follow mode performs do_it (button,
highlight = click, formfill, navigate, hover, multistep in order) and highlights show_me.
Everything unsafe is refused here, before the browser is touched: while the attendee's docs
panel shows a guide, any event that is not one of its steps (and what is done comes from the
attendee's own step); navigation off the attendee's own Grafana origin, `javascript:`/`data:`
and other script URLs, enormous values, selectors outside Pathfinder's dialect. A refusal
carries the reason the attendee and the presenter are told.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.browser.contract import GrafanaSelectors
from bridge.browser.guide import Guide
from bridge.browser.locate import LocateError, Target, button_target, element_target
from bridge.protocol.events import (
    AttendeeMode,
    DoIt,
    InteractiveAction,
    InternalAction,
    ShowMe,
    StepEvent,
    TargetAction,
)

MAX_VALUE = 10_000
MAX_STEPS = 32
_SAFE_SCHEMES = ("http", "https")
NOT_IN_GUIDE = "not a step of your guide"


class StepKind(enum.StrEnum):
    HIGHLIGHT = "highlight"
    CLICK = "click"
    FILL = "fill"
    NAVIGATE = "navigate"
    HOVER = "hover"
    NOOP = "noop"


@dataclass(frozen=True)
class ReplayStep:
    kind: StepKind
    target: Target | None = None
    value: str = ""
    comment: str = ""

    def __str__(self) -> str:
        if self.kind is StepKind.NAVIGATE:
            return f"navigate to {self.value}"
        if self.kind is StepKind.NOOP:
            return self.comment or "nothing to do"
        return f"{self.kind.value} {self.target}"


@dataclass(frozen=True)
class ReplayPlan:
    step_id: str
    steps: tuple[ReplayStep, ...] = ()
    refused: str = ""

    @property
    def ok(self) -> bool:
        return not self.refused


class Refusal(Exception):
    """Raised inside planning; becomes ReplayPlan.refused."""


def safe_route(reftarget: str, own_origin: str) -> str:
    """The path to open for a navigate action, or Refusal if it would leave our own Grafana."""
    target = reftarget.strip()
    if not target:
        raise Refusal("navigate without a target")
    if any(ch in target for ch in "\\\x00\r\n\t") or len(target) > 2000:
        raise Refusal("navigation target has forbidden characters")
    parts = urlsplit(target)
    if parts.scheme:
        if parts.scheme.lower() not in _SAFE_SCHEMES:
            raise Refusal(f"{parts.scheme}: URLs are never opened")
        own = urlsplit(own_origin)
        if (parts.scheme.lower(), parts.netloc.lower()) != (own.scheme.lower(), own.netloc.lower()):
            raise Refusal(
                f"navigation to {parts.scheme}://{parts.netloc} leaves this Grafana ({own_origin})"
            )
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if parts.fragment:
            target += "#" + parts.fragment
    elif target.startswith("//") or not target.startswith("/"):
        if target.startswith("//"):
            raise Refusal("protocol-relative URLs are never opened")
        target = "/" + target
    return target


def _check_value(value: str | None) -> str:
    text = value or ""
    if len(text) > MAX_VALUE:
        raise Refusal(f"value of {len(text)} characters is over the {MAX_VALUE} limit")
    return text


def _follow_step(
    action: TargetAction, reftarget: str, value: str | None, grafana: GrafanaSelectors, origin: str
) -> ReplayStep:
    if action is TargetAction.BUTTON:
        return ReplayStep(StepKind.CLICK, button_target(reftarget, grafana))
    if action is TargetAction.HIGHLIGHT:
        return ReplayStep(StepKind.CLICK, element_target(reftarget, grafana))
    if action is TargetAction.FORMFILL:
        return ReplayStep(StepKind.FILL, element_target(reftarget, grafana), _check_value(value))
    if action is TargetAction.HOVER:
        return ReplayStep(StepKind.HOVER, element_target(reftarget, grafana))
    if action is TargetAction.NAVIGATE:
        return ReplayStep(StepKind.NAVIGATE, value=safe_route(reftarget, origin))
    if action is TargetAction.NOOP:
        return ReplayStep(StepKind.NOOP, comment="noop step")
    # guided and popout steps are the attendee's own to perform: nothing is replayed.
    return ReplayStep(StepKind.NOOP, comment=f"{action.value} step: done by the attendee")


def _highlight(action: InteractiveAction, grafana: GrafanaSelectors) -> ReplayStep:
    comment = action.targetComment or ""
    if action.targetAction is TargetAction.NAVIGATE:
        return ReplayStep(StepKind.NOOP, comment=f"the presenter goes to {action.refTarget}")
    if action.targetAction in (TargetAction.NOOP, TargetAction.GUIDED, TargetAction.POPOUT):
        return ReplayStep(StepKind.NOOP, comment=comment or f"{action.targetAction.value} step")
    if action.targetAction is TargetAction.MULTISTEP:
        first = next((a for a in action.internalActions or () if a.refTarget), None)
        if first is None:
            return ReplayStep(StepKind.NOOP, comment="multistep without a target")
        inner = InteractiveAction(first.targetAction, first.refTarget or "", targetComment=comment)
        return _highlight(inner, grafana)
    if action.targetAction is TargetAction.BUTTON:
        return ReplayStep(
            StepKind.HIGHLIGHT, button_target(action.refTarget, grafana), comment=comment
        )
    return ReplayStep(
        StepKind.HIGHLIGHT, element_target(action.refTarget, grafana), comment=comment
    )


def _internal(
    actions: tuple[InternalAction, ...] | None, grafana: GrafanaSelectors, origin: str
) -> tuple[ReplayStep, ...]:
    if not actions:
        raise Refusal("multistep without internal actions")
    if len(actions) > MAX_STEPS:
        raise Refusal(f"multistep of {len(actions)} actions is over the {MAX_STEPS} limit")
    steps = []
    for action in actions:
        if action.targetAction is TargetAction.MULTISTEP:
            raise Refusal("nested multistep")
        steps.append(
            _follow_step(
                action.targetAction, action.refTarget or "", action.targetValue, grafana, origin
            )
        )
    return tuple(steps)


def plan_replay(
    event: StepEvent,
    mode: AttendeeMode,
    grafana: GrafanaSelectors,
    own_origin: str,
    guide: Guide | None = None,
) -> ReplayPlan:
    """Decide what to do for one show_me or do_it, in this attendee's mode and Grafana.

    `guide` is what the attendee's own docs panel shows (None: no guide open). With one, the
    event must name one of its steps, and that step (the attendee's copy) is what is replayed.
    """
    if guide is not None:
        own = guide.step_for(event)
        if own is None:
            return ReplayPlan(event.stepId, refused=NOT_IN_GUIDE)
        event = dataclasses.replace(event, action=own.action)
    action = event.action
    try:
        if isinstance(event, ShowMe) or mode is AttendeeMode.GUIDED:
            return ReplayPlan(event.stepId, (_highlight(action, grafana),))
        assert isinstance(event, DoIt)
        if action.targetAction is TargetAction.MULTISTEP:
            return ReplayPlan(event.stepId, _internal(action.internalActions, grafana, own_origin))
        step = _follow_step(
            action.targetAction, action.refTarget, action.targetValue, grafana, own_origin
        )
        return ReplayPlan(event.stepId, (step,))
    except (Refusal, LocateError) as exc:
        return ReplayPlan(event.stepId, refused=str(exc))
