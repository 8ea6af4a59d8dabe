"""`pathfinder-bridge doctor`: Pathfinder's troubleshooting list, run as checks that each say ok,
or the problem and what to do: the signaling server, Chromium, Grafana and its login, a Grafana
page reaching the signaling server, a presenter (given its join code), STUN/TURN servers."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bridge.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    add_client_flags,
    add_common_flags,
    add_login_flags,
    client_overrides,
    grafana_login,
    load,
    positive_seconds,
    run_async,
)
from bridge.config import Config

if TYPE_CHECKING:
    from bridge.doctor.report import Check

NAME = "doctor"
HELP = "check the setup: signaling server, Chromium, Grafana and its login, a presenter, STUN/TURN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run Pathfinder's troubleshooting list as checks: each prints ok, or the problem and "
        "what to do. Exits 1 when any check finds a problem."
    )
    add_common_flags(parser)
    add_client_flags(parser)
    parser.add_argument(
        "code", metavar="CODE", nargs="?", help="a join code or join URL: check its presenter"
    )
    parser.add_argument("--grafana", metavar="URL", help="the Grafana to check")
    add_login_flags(parser, password=True)
    parser.add_argument("--json", action="store_true", help="one JSON report on stdout")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=5.0,
        metavar="S",
        help="seconds each network wait may take (default 5)",
    )


def run(args: argparse.Namespace) -> int:
    config = load(args, client_overrides(args))
    return run_async(lambda: doctor(config, args))


async def doctor(config: Config, args: argparse.Namespace) -> int:
    # Here, not at the top: every command's process (the signaling server's too) imports this
    # module, and the terminal's imports (sessions, cryptography) cost 8 MiB of RSS.
    from bridge.commands.terminal import say, show_check
    from bridge.doctor import checks
    from bridge.doctor.probes import DoctorProbes
    from bridge.doctor.report import Check, DoctorReport, Status
    from bridge.grafana.login import GrafanaLogin, LoginError
    from bridge.protocol.joincode import JoinCode, JoinCodeError
    from bridge.transport.endpoint import SignalingEndpoint

    probes = DoctorProbes(config, timeout=args.timeout)
    report = DoctorReport()

    def add(check: Check) -> None:
        report.add(check)
        if not args.json:
            show_check(check)

    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    add(checks.judge_signaling(await probes.signaling(endpoint)))

    try:
        login, login_error = grafana_login(args, password=True), ""
    except LoginError as exc:
        login, login_error = GrafanaLogin(), str(exc)
    chromium, page = await probes.browser(args.grafana, login, endpoint)
    add(checks.judge_chromium(chromium))

    topic = checks.NO_HIGHLIGHT
    if args.grafana:
        add(checks.judge_grafana(await probes.grafana(args.grafana)))
        if login_error:
            add(checks.judge_login(checks.LoginObservation("the login given", error=login_error)))
        elif report.passed("grafana"):
            add(checks.judge_login(await probes.login(args.grafana, login)))
        else:
            add(checks.skipped("grafana-login", "Grafana login", topic, "Grafana is not reachable"))
        if page is not None:
            add(checks.judge_page(page))
        else:
            why = "Chromium does not start"
            add(checks.skipped("page", "Grafana page to signaling server", topic, why))
    else:
        why = "give --grafana URL to check Grafana, its login and its pages"
        add(checks.skipped("grafana", "Grafana", topic, why))
        add(checks.skipped("grafana-login", "Grafana login", topic, why))
        add(checks.skipped("page", "Grafana page to signaling server", topic, why))

    topic = checks.CANNOT_FIND
    if not args.code:
        why = "give a join code (or join URL) to check its presenter"
        add(checks.skipped("presenter", "Presenter", topic, why))
    else:
        try:
            code = JoinCode.parse(args.code)
        except JoinCodeError as exc:
            advice = ("paste the join code or the join URL the presenter shows",)
            add(Check("presenter", "Presenter", topic, Status.PROBLEM, str(exc), advice))
        else:
            if report.passed("signaling"):
                add(checks.judge_presenter(await probes.presenter(endpoint, code)))
            else:
                why = "the signaling server does not work (see above)"
                add(checks.skipped("presenter", f"Presenter of session {code.id}", topic, why))

    add(checks.judge_ice(await probes.ice(config.client.ice_servers)))

    if args.json:
        print(report.to_json(), flush=True)
    else:
        say(report.verdict())
    return EXIT_OK if report.ok else EXIT_ERROR
