"""Issue 9.9: follow mode lets a presenter click anything as the attendee. `follow --confirm`
(destructive by default, all, none) asks on the attendee's terminal first; no answer in
time, or no terminal, means no, and the presenter is told why.

The rule (sans-I/O) and the terminal's question are unit-tested; the whole flow runs through
the CLI: a presenter typing events, one attendee answering on its terminal, one without one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Playwright

from bridge.browser.confirm import (
    ConfirmPolicy,
    confirmation_reason,
    confirmed_by_plan,
    destructive_word,
    label_reason,
)
from bridge.browser.contract import grafana_selectors
from bridge.browser.plan import ReplayPlan, plan_replay
from bridge.commands.typed_input import TypedInput
from bridge.protocol.events import (
    AttendeeMode,
    DoIt,
    InteractiveAction,
    InternalAction,
    TargetAction,
)
from bridge.sandbox.server import SandboxServer
from tests.conftest import UNIT
from tests.servers import CliProcess, free_port, our_signaling_server

ORIGIN = "http://127.0.0.1:3000"
SELECTORS = grafana_selectors("12.0.0")


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Delete dashboard", "delete"),
        ("grafana:pages.Dashboard.Settings.General.deleteDashBoard", "delete"),
        ('[data-testid="data-testid Remove panel"]', "remove"),
        ("#btn-revoke-token", "revoke"),
        ("Save & overwrite", "overwrite"),
        ("Save over", "save over"),
        ("Save dashboard", None),
        ("Undelete", None),
        ("Explore", None),
    ],
)
def test_what_reads_destructive(text: str, word: str | None) -> None:
    assert destructive_word([text]) == word


def plan(action: TargetAction, target: str) -> ReplayPlan:
    event = DoIt(stepId="s", action=InteractiveAction(action, target))
    return plan_replay(event, AttendeeMode.FOLLOW, SELECTORS, ORIGIN)


def test_which_do_it_asks_first() -> None:
    delete = plan(TargetAction.BUTTON, "Delete dashboard")
    save = plan(TargetAction.BUTTON, "Save dashboard")
    leave = plan(TargetAction.NAVIGATE, "/dashboard/uid/delete")
    nothing = plan(TargetAction.NOOP, "")
    destructive, ask_all, never = ConfirmPolicy.DESTRUCTIVE, ConfirmPolicy.ALL, ConfirmPolicy.NONE
    assert confirmation_reason(destructive, delete) == 'it reads like "delete"'
    assert confirmation_reason(destructive, leave) == 'it reads like "delete"'
    assert confirmation_reason(destructive, save) is None
    assert confirmation_reason(ask_all, save) == "every Do it is confirmed (--confirm all)"
    assert confirmation_reason(ask_all, nothing) is None
    assert confirmation_reason(never, delete) is None
    # What the click would land on counts too, under `destructive` only.
    assert label_reason(destructive, "Remove user") == 'its target reads "Remove user" ("remove")'
    assert label_reason(destructive, "Add user") is None
    assert label_reason(never, "Remove user") is None


def test_a_yes_covers_only_the_steps_the_question_named() -> None:
    event = DoIt(
        stepId="m",
        action=InteractiveAction(
            TargetAction.MULTISTEP,
            "",
            internalActions=(
                InternalAction(TargetAction.BUTTON, "Delete dashboard"),
                InternalAction(TargetAction.HIGHLIGHT, "#b2"),
            ),
        ),
    )
    steps = plan_replay(event, AttendeeMode.FOLLOW, SELECTORS, ORIGIN)
    assert confirmed_by_plan(ConfirmPolicy.DESTRUCTIVE, steps) == {0}
    assert confirmed_by_plan(ConfirmPolicy.ALL, steps) == {0, 1}


async def test_a_question_takes_the_next_line_and_no_answer_means_no() -> None:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    typed = TypedInput(lines)
    pump = asyncio.create_task(typed.pump())
    try:
        lines.put_nowait("hand")
        assert await typed.command() == "hand"
        asking = asyncio.create_task(typed.ask("Delete?", within=10 * UNIT))
        await asyncio.sleep(0)
        lines.put_nowait("y")
        assert await asking is True
        asking = asyncio.create_task(typed.ask("Delete?", within=10 * UNIT))
        await asyncio.sleep(0)
        lines.put_nowait("mode follow")  # anything but yes is no, and is not a command
        assert await asking is False
        assert await typed.ask("Delete?", within=0.01) is False  # nobody answers
        lines.put_nowait("leave")
        assert await typed.command() == "leave"
        lines.put_nowait(None)  # input closed: no terminal
        assert await typed.command() is None
        assert await typed.ask("Delete?", within=10 * UNIT) is False
    finally:
        pump.cancel()


# -- through the CLI ---------------------------------------------------------------------------

DANGER = """() => {
  const bar = document.createElement("div");
  bar.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:60";
  bar.innerHTML = `<button id="trash" aria-label="Delete dashboard">&#128465;</button>
    <button id="star">Star</button>`;
  window.clicks = { trash: 0, star: 0 };
  for (const b of bar.querySelectorAll("button")) b.onclick = () => window.clicks[b.id] += 1;
  document.body.append(bar);
}"""


@pytest.fixture
def server() -> Iterator[str]:
    with our_signaling_server() as url:
        yield url


def follow(
    server: str, code: str, site: SandboxServer, name: str, port: int, *extra: str, terminal: bool
) -> CliProcess:
    """A follow-mode attendee; without a terminal, its standard input is closed."""
    process = CliProcess(
        "follow",
        code,
        "--grafana",
        site.url,
        "--mode",
        "follow",
        "--name",
        name,
        "--headless",
        "--server",
        server,
        "--remote-debugging-port",
        str(port),
        *extra,
        stdin=terminal,
        env={
            "PATHFINDER_BRIDGE_BROWSER_ACTION_TIMEOUT": "2",
            "PATHFINDER_BRIDGE_BROWSER_CONFIRM_TIMEOUT": str(3 * UNIT),
        },
    )
    process.wait_for(lambda line: line.startswith("Joined session"), 30 * UNIT)
    return process


def test_follow_asks_before_a_destructive_do_it(playwright: Playwright, server: str) -> None:
    with (
        SandboxServer() as site,
        CliProcess("present", "--no-browser", "--server", server, stdin=True) as presenter,
    ):
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        code = code.removeprefix("Join code: ")
        # Finn answers on his terminal (default: --confirm destructive); Nora has no terminal
        # and asks before every Do it.
        ports = {"Finn": free_port(), "Nora": free_port()}
        with (
            follow(server, code, site, "Finn", ports["Finn"], terminal=True) as finn,
            follow(
                server, code, site, "Nora", ports["Nora"], "--confirm", "all", terminal=False
            ) as nora,
        ):
            pages: dict[str, Page] = {}
            for name, port in ports.items():
                browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
                pages[name] = browser.contexts[0].pages[0]
                pages[name].wait_for_selector("#app .page")
                pages[name].evaluate(DANGER)

            def do_it(step: str, target: str) -> None:
                action = {"targetAction": "button", "refTarget": target}
                presenter.write(json.dumps({"type": "do_it", "stepId": step, "action": action}))

            def result(process: CliProcess, step: str) -> str:
                line = process.wait_for(lambda line: line.startswith(f"do_it {step}: "))
                return line.removeprefix(f"do_it {step}: ")

            def asked(process: CliProcess) -> str:
                return process.wait_for(lambda line: "Do it? [y/N]" in line, 15 * UNIT)

            # The button's own label reads like deleting: Finn is asked and says no.
            do_it("trash-1", "#trash")
            question = asked(finn)
            assert 'its target reads "Delete dashboard' in question and '("delete")' in question
            finn.write("n")
            refused = result(finn, "trash-1")
            assert refused.startswith("failed: click #trash: not confirmed by the attendee (")
            # Nora has nobody to ask: no.
            nora.wait_for(lambda line: line.endswith("No terminal to answer on: not done."))
            assert "not confirmed by the attendee (every Do it is confirmed" in result(
                nora, "trash-1"
            )
            # The presenter is told both refusals, in whichever order they come.
            expected = {
                "= Finn: failed: click #trash: not confirmed by the attendee",
                "= Nora: failed: not confirmed by the attendee",
            }
            while expected:
                wanted = tuple(expected)
                line = presenter.wait_for(lambda line, wanted=wanted: line.startswith(wanted))
                expected = {prefix for prefix in expected if not line.startswith(prefix)}
            # Finn says yes: his Grafana does it.
            do_it("trash-2", "#trash")
            asked(finn)
            finn.write("y")
            assert result(finn, "trash-2") == "ok: click #trash"
            # No answer in time is no.
            do_it("trash-3", "Delete dashboard")
            assert 'it reads like "delete"' in asked(finn)
            finn.wait_for(lambda line: line.startswith("No answer within"), 15 * UNIT)
            assert "not confirmed by the attendee" in result(finn, "trash-3")
            # A harmless Do it is not asked about (destructive); with --confirm all it is.
            do_it("star", "#star")
            assert result(finn, "star") == "ok: click #star"
            assert "not confirmed" in result(nora, "star")
            assert pages["Finn"].evaluate("window.clicks") == {"trash": 1, "star": 1}
            assert pages["Nora"].evaluate("window.clicks") == {"trash": 0, "star": 0}


# -- red-team finding 3 and 4: the control a click activates, each step of a multistep, and
# -- what a refusal tells the presenter ---------------------------------------------------------

ICONS = """() => {
  const bar = document.createElement("div");
  bar.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:60;background:#fff";
  bar.innerHTML = `<button id="trash" aria-label="Delete dashboard"><svg width="24" height="24">
      <rect width="24" height="24"/></svg></button>
    <button id="f1">Remove filter</button> <button id="b2">Delete dashboard</button>
    <div class="token-row"><span>ci-deploy glsa_7f3a91c2d4e5f60718293a4b5c6d7e8f</span>
      <button>Delete</button></div>`;
  window.clicks = { trash: 0, f1: 0, b2: 0 };
  for (const b of bar.querySelectorAll("button[id]")) b.onclick = () => window.clicks[b.id] += 1;
  document.body.append(bar);
}"""
SECRET = "glsa_7f3a91c2d4e5f60718293a4b5c6d7e8f"


def test_follow_asks_about_the_control_a_click_activates_and_about_each_step(
    playwright: Playwright, server: str
) -> None:
    with (
        SandboxServer() as site,
        CliProcess("present", "--no-browser", "--server", server, stdin=True) as presenter,
    ):
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        code = code.removeprefix("Join code: ")
        port = free_port()
        with follow(server, code, site, "Finn", port, terminal=True) as finn:
            browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            page = browser.contexts[0].pages[0]
            page.wait_for_selector("#app .page")
            page.evaluate(ICONS)

            def do_it(step: str, action: dict[str, object]) -> None:
                presenter.write(json.dumps({"type": "do_it", "stepId": step, "action": action}))

            def asked() -> str:
                return finn.wait_for(lambda line: "Do it? [y/N]" in line, 15 * UNIT)

            def result(step: str) -> str:
                line = finn.wait_for(lambda line: line.startswith(f"do_it {step}: "))
                return line.removeprefix(f"do_it {step}: ")

            # Aimed at the icon inside "Delete dashboard": the button it activates is asked
            # about (the review's click went through without a question).
            do_it("icon", {"targetAction": "highlight", "refTarget": "#trash svg"})
            assert '"delete"' in asked()
            finn.write("n")
            assert "not confirmed by the attendee" in result("icon")
            # One yes is for one step: a later step that reads destructive is asked again.
            steps = [
                {"targetAction": "highlight", "refTarget": "#f1"},
                {"targetAction": "highlight", "refTarget": "#b2"},
            ]
            do_it("multi", {"targetAction": "multistep", "refTarget": "", "internalActions": steps})
            assert "Remove filter" in asked()
            finn.write("y")
            assert "Delete dashboard" in asked()
            finn.write("n")
            assert "not confirmed by the attendee" in result("multi")
            # A refusal tells the presenter that, and nothing read off the attendee's page;
            # the attendee's own terminal shows what made it ask.
            do_it("row", {"targetAction": "highlight", "refTarget": "div.token-row"})
            assert SECRET[:20] in asked()
            finn.write("n")
            assert SECRET[:20] in result("row")
            told = presenter.wait_for(
                lambda line: line.startswith("= Finn: failed") and "row" in line
            )
            assert (
                told
                == "= Finn: failed: click div.token-row: not confirmed by the attendee (step row)"
            )
            assert page.evaluate("window.clicks") == {"trash": 0, "f1": 1, "b2": 0}
            assert not any(SECRET[:8] in line for line in presenter.seen)
