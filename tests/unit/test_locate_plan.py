"""Selector dialect translation and replay planning, including every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.browser.contract import grafana_selectors, pathfinder_contract, version_key
from bridge.browser.locate import LocateError, button_target, translate_selector
from bridge.browser.plan import StepKind, plan_replay, safe_route
from bridge.protocol.events import (
    AttendeeMode,
    DoIt,
    InteractiveAction,
    InternalAction,
    ShowMe,
    TargetAction,
)

OLD, NEW = grafana_selectors("11.0.0"), grafana_selectors("13.2.3")
ORIGIN = "http://127.0.0.1:3000"


def test_selector_tables_are_picked_like_resolve_selectors() -> None:
    assert grafana_selectors("11.6.2").grafana_version == "11.0.0"
    assert grafana_selectors("12.4.0").grafana_version == "12.0.0"
    assert grafana_selectors("99.0.0").grafana_version == "13.2.3"
    assert (
        grafana_selectors("10.0.0").grafana_version == "11.0.0"
    )  # older than any table: the oldest
    assert version_key("12.1.0-pre") == (12, 1, 0)
    assert NEW.package_version == "13.2.3"


def test_grafana_tokens_follow_the_version() -> None:
    assert (
        translate_selector("grafana:pages.AddDashboard.addNewPanel", OLD)
        == '[aria-label="Add new panel"]'
    )
    assert (
        translate_selector("grafana:pages.AddDashboard.addNewPanel", NEW)
        == '[data-testid="data-testid Add new panel"]'
    )
    assert translate_selector(
        "grafana:pages.AddDataSource.dataSourcePluginsV2(Prometheus)", NEW
    ) == ('[data-testid="data-testid Add new data source Prometheus"]')
    assert translate_selector("grafana:components.NavMenu.item[href='/dashboards']", NEW) == (
        "[data-testid=\"data-testid Nav menu item\"][href='/dashboards']"
    )
    # Pathfinder's own forms (its resolveSelector): grafana:path:id alone, {grafana:path:id} inside.
    assert translate_selector(
        "grafana:pages.AddDataSource.dataSourcePluginsV2:Prometheus", NEW
    ) == ('[data-testid="data-testid Add new data source Prometheus"]')
    assert translate_selector("{grafana:components.NavMenu.item}[href='/dashboards']", NEW) == (
        "[data-testid=\"data-testid Nav menu item\"][href='/dashboards']"
    )
    assert translate_selector(
        "div:has({grafana:pages.AddDataSource.dataSourcePluginsV2:Loki}) button", NEW
    ) == ('div:has([data-testid="data-testid Add new data source Loki"]) button')


@pytest.mark.parametrize(
    ("dialect", "playwright"),
    [
        ('a:contains("Dashboards")', 'a:has-text("Dashboards")'),
        ("div.card:contains('Prom')", 'div.card:has-text("Prom")'),
        ("section:has(h2:contains(Data))", 'section:has(h2:has-text("Data"))'),
        ("button.tab:nth-match(2)", "button.tab >> nth=1"),
        ('span:text("Explore")', 'span:text-matches("^\\\\s*Explore\\\\s*$", "i")'),
        ("p:text('a.b (c)')", 'p:text-matches("^\\\\s*a\\\\.b \\\\(c\\\\)\\\\s*$", "i")'),
        ("#plain > .css", "#plain > .css"),
    ],
)
def test_dialect(dialect: str, playwright: str) -> None:
    assert translate_selector(dialect, NEW) == playwright


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("x" * 2001, "longer"),
        ("grafana:components.Nope.nothing", "unknown Grafana selector"),
        ("grafana:pages.AddDataSource.dataSourcePluginsV2", "needs an argument"),
        ("a:nth-match(0)", "counts from 1"),
    ],
)
def test_bad_selectors(bad: str, reason: str) -> None:
    with pytest.raises(LocateError, match=reason):
        translate_selector(bad, NEW)


def test_button_rule() -> None:
    target = button_target("Save dashboard", NEW)
    assert target.candidates == (
        'button:text-matches("^\\\\s*Save dashboard\\\\s*$", "i")',
        'button:has-text("Save dashboard")',
    )
    assert button_target("button[type=submit]", NEW).candidates == ("button[type=submit]",)


@pytest.mark.parametrize(
    ("ref", "route"),
    [
        ("/dashboards", "/dashboards"),
        ("dashboards", "/dashboards"),
        ("http://127.0.0.1:3000/explore?x=1#y", "/explore?x=1#y"),
    ],
)
def test_safe_routes(ref: str, route: str) -> None:
    assert safe_route(ref, ORIGIN) == route


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("https://evil.example/x", "leaves this Grafana"),
        ("javascript:alert(1)", "javascript: URLs"),
        ("JAVASCRIPT:alert(1)", "URLs are never opened"),
        ("data:text/html,<script>", "data: URLs"),
        ("//evil.example/", "protocol-relative"),
        ("/a\\b", "forbidden"),
        ("http://127.0.0.1:3001/", "leaves"),
        ("vbscript:x", "never opened"),
        ("", "without a target"),
    ],
)
def test_unsafe_routes_are_refused(ref: str, reason: str) -> None:
    from bridge.browser.plan import Refusal

    with pytest.raises(Refusal, match=reason):
        safe_route(ref, ORIGIN)


def do_it(
    action: TargetAction,
    ref: str,
    value: str | None = None,
    internal: tuple[InternalAction, ...] | None = None,
) -> DoIt:
    return DoIt(stepId="s", action=InteractiveAction(action, ref, value, internalActions=internal))


def test_guided_steps_are_left_to_the_attendee() -> None:
    plan = plan_replay(do_it(TargetAction.GUIDED, "#x"), AttendeeMode.FOLLOW, NEW, ORIGIN)
    assert (
        plan.ok
        and plan.steps[0].kind is StepKind.NOOP
        and "done by the attendee" in plan.steps[0].comment
    )


def test_guided_mode_highlights_everything() -> None:
    plan = plan_replay(do_it(TargetAction.FORMFILL, "#q", "x"), AttendeeMode.GUIDED, NEW, ORIGIN)
    assert [s.kind for s in plan.steps] == [StepKind.HIGHLIGHT]
    nav = plan_replay(
        do_it(TargetAction.NAVIGATE, "https://evil.example"), AttendeeMode.GUIDED, NEW, ORIGIN
    )
    assert nav.ok and nav.steps[0].kind is StepKind.NOOP  # guided never navigates


def test_follow_mode_performs_do_it_and_highlights_show_me() -> None:
    show = ShowMe(
        stepId="s", action=InteractiveAction(TargetAction.BUTTON, "Save", targetComment="c")
    )
    assert plan_replay(show, AttendeeMode.FOLLOW, NEW, ORIGIN).steps[0].kind is StepKind.HIGHLIGHT
    kinds = {
        TargetAction.BUTTON: StepKind.CLICK,
        TargetAction.HIGHLIGHT: StepKind.CLICK,
        TargetAction.FORMFILL: StepKind.FILL,
        TargetAction.HOVER: StepKind.HOVER,
        TargetAction.NAVIGATE: StepKind.NAVIGATE,
        TargetAction.NOOP: StepKind.NOOP,
    }
    for action, kind in kinds.items():
        plan = plan_replay(
            do_it(action, "/dashboards" if action is TargetAction.NAVIGATE else "#x", "v"),
            AttendeeMode.FOLLOW,
            NEW,
            ORIGIN,
        )
        assert plan.ok and plan.steps[0].kind is kind, action
    multi = do_it(
        TargetAction.MULTISTEP,
        "",
        internal=(
            InternalAction(TargetAction.BUTTON, "New"),
            InternalAction(TargetAction.FORMFILL, "#t", "CPU"),
        ),
    )
    plan = plan_replay(multi, AttendeeMode.FOLLOW, NEW, ORIGIN)
    assert [s.kind for s in plan.steps] == [StepKind.CLICK, StepKind.FILL] and plan.steps[
        1
    ].value == "CPU"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (do_it(TargetAction.NAVIGATE, "javascript:alert(document.cookie)"), "javascript: URLs"),
        (do_it(TargetAction.NAVIGATE, "https://evil.example/phish"), "leaves this Grafana"),
        (do_it(TargetAction.FORMFILL, "#q", "x" * 10_001), "over the 10000 limit"),
        (
            do_it(
                TargetAction.MULTISTEP,
                "",
                internal=(InternalAction(TargetAction.HOVER, "#a"),) * 33,
            ),
            "over the 32 limit",
        ),
        (
            do_it(
                TargetAction.MULTISTEP, "", internal=(InternalAction(TargetAction.MULTISTEP, "#a"),)
            ),
            "nested",
        ),
        (
            do_it(
                TargetAction.MULTISTEP,
                "",
                internal=(InternalAction(TargetAction.NAVIGATE, "data:text/html,x"),),
            ),
            "data: URLs",
        ),
        (do_it(TargetAction.HIGHLIGHT, "grafana:components.Nope.x"), "unknown Grafana selector"),
    ],
)
def test_hostile_events_are_refused_before_the_browser(event: DoIt, reason: str) -> None:
    plan = plan_replay(event, AttendeeMode.FOLLOW, NEW, ORIGIN)
    assert not plan.ok and reason in plan.refused and plan.steps == ()


@given(st.text(max_size=300), st.sampled_from(list(TargetAction)), st.text(max_size=50) | st.none())
def test_planner_never_crashes(ref: str, action: TargetAction, value: str | None) -> None:
    for mode in AttendeeMode:
        plan = plan_replay(do_it(action, ref, value), mode, NEW, ORIGIN)
        assert plan.ok or plan.refused
        for step in plan.steps:
            if step.kind is StepKind.NAVIGATE:
                assert step.value.startswith("/") and not step.value.startswith("//")


def test_pathfinder_contract() -> None:
    contract = pathfinder_contract()
    assert contract.version == "2.16"
    assert contract.step_selector == "div.interactive-step"
    assert contract.attribute("step_id") == "data-step-id"
    assert contract["show_button"]["class"] == "interactive-step-show-btn"


def test_fast_queries_for_the_in_page_path() -> None:
    from bridge.browser.locate import FastQuery, fast_query

    assert fast_query("#plain > .css", NEW) == FastQuery("#plain > .css")
    assert fast_query('header span:contains("Grafana")', NEW) == FastQuery("header span", "Grafana")
    assert fast_query("nav :contains(Explore)", NEW) == FastQuery("nav *", "Explore")
    assert fast_query("grafana:pages.AddDashboard.addNewPanel", OLD) == FastQuery(
        '[aria-label="Add new panel"]'
    )
    for needs_playwright in (
        "section:has(h2:contains(Data))",
        "a:nth-match(2)",
        'span:text("x")',
        "a:contains(x) b",
    ):
        assert fast_query(needs_playwright, NEW) is None, needs_playwright
    assert button_target("Save", NEW).fast_query is None  # button text uses the text rule
