"""When follow mode asks the attendee before doing a presenter's Do it (sans-I/O).

`follow --confirm destructive` (the default) asks before a Do it whose target reads like
deleting, removing, revoking or overwriting something: its reference target, a path it opens,
or the label of the element it would click (`Delete dashboard`, `grafana:...deleteButton`,
`Save & overwrite`). `all` asks before every Do it that does anything, `none` never asks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from bridge.browser.plan import ReplayPlan, ReplayStep, StepKind


class ConfirmPolicy(enum.StrEnum):
    DESTRUCTIVE = "destructive"
    ALL = "all"
    NONE = "none"


_DESTRUCTIVE = re.compile(
    r"\b(?:delet(?:e|ed|es|ing|ion)|remov(?:e|ed|es|ing|al)|revok(?:e|ed|es|ing)|revocation"
    r"|destroy(?:ed|s|ing)?|eras(?:e|ed|es|ing)|purg(?:e|ed|es|ing)|wip(?:e|ed|es|ing)"
    r"|discard(?:ed|s|ing)?|uninstall(?:ed|s|ing)?|overwrit(?:e|es|ing|ten)|overwrote"
    r"|replac(?:e|ed|es|ing)|save\s+over)\b"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")

#: The step kinds that change something in the attendee's Grafana.
ACTING = frozenset((StepKind.CLICK, StepKind.FILL, StepKind.NAVIGATE))

#: What the presenter is told of a refusal: never the label that made us ask (page text).
NOT_CONFIRMED = "not confirmed by the attendee"


def destructive_word(texts: Iterable[str]) -> str | None:
    """The first word in `texts` that reads like destroying or overwriting, else None.

    Identifiers are split as words (`deleteDashBoard`, `btn-remove`, `data-testid Delete`).
    """
    for text in texts:
        words = _SEPARATORS.sub(" ", _CAMEL.sub(" ", text[:2000])).lower()
        found = _DESTRUCTIVE.search(words)
        if found:
            return re.sub(r"\s+", " ", found.group(0))
    return None


def acts(plan: ReplayPlan) -> bool:
    return plan.ok and any(step.kind in ACTING for step in plan.steps)


def confirmation_reason(policy: ConfirmPolicy, plan: ReplayPlan) -> str | None:
    """Why this follow-mode plan needs the attendee's yes before it runs, or None.

    Only what the plan itself says is read here; the label of the element a click lands on
    is checked by `label_reason` once the element is found.
    """
    if policy is ConfirmPolicy.NONE or not acts(plan):
        return None
    if policy is ConfirmPolicy.ALL:
        return "every Do it is confirmed (--confirm all)"
    word = destructive_word(text for step in plan.steps for text in _step_texts(step))
    return None if word is None else f'it reads like "{word}"'


def confirmed_by_plan(policy: ConfirmPolicy, plan: ReplayPlan) -> frozenset[int]:
    """The steps a yes to `confirmation_reason`'s question covers: with `all`, every step;
    with `destructive`, the steps whose own target or path reads destructive. The element
    every other step clicks is still checked (`label_reason`) and asked about alone."""
    if policy is ConfirmPolicy.ALL:
        return frozenset(range(len(plan.steps)))
    return frozenset(
        index
        for index, step in enumerate(plan.steps)
        if destructive_word(_step_texts(step)) is not None
    )


def _step_texts(step: ReplayStep) -> list[str]:
    if step.kind is StepKind.NAVIGATE:
        return [step.value]
    if step.kind in ACTING and step.target is not None:
        return [step.target.reftarget]
    return []


def label_reason(policy: ConfirmPolicy, label: str) -> str | None:
    """Why clicking an element with this label (text, aria-label, title) needs a yes."""
    if policy is not ConfirmPolicy.DESTRUCTIVE:
        return None
    word = destructive_word([label])
    # Shown to the attendee only: it quotes the page.
    return None if word is None else f'its target reads "{label[:60].strip()}" ("{word}")'
