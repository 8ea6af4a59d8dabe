"""What `doctor` found (sans-I/O): one Check per question, each ok, a problem with what to do,
or skipped because something it needs is missing; the report turns into lines or JSON."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    #: The item of Pathfinder's troubleshooting list this check answers.
    topic: str
    status: Status
    summary: str
    advice: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    figures: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "topic": self.topic,
            "status": self.status.value,
            "summary": self.summary,
            "advice": list(self.advice),
            "details": list(self.details),
            "figures": {name: round(value, 2) for name, value in self.figures.items()},
        }


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def passed(self, check_id: str) -> bool:
        check = self.get(check_id)
        return check is not None and check.status is Status.OK

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.PROBLEM]

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        count = len(self.problems)
        if not count:
            return "No problems found."
        return f"{count} problem{'s' if count != 1 else ''} found."

    def to_json(self) -> str:
        return json.dumps(
            {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}, separators=(",", ":")
        )
