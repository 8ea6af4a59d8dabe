"""What every command shares: exit codes, common flags, config loading, and running a
coroutine until it ends, Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import Config, default_config_file, load_config
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from bridge.grafana.login import GrafanaLogin

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: component logs, -vv: libraries too"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="config file (default: ./config.yaml)"
    )


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="URL",
        help="signaling server, http://HOST:PORT/PATH (default from config.yaml)",
    )
    parser.add_argument("--key", help="signaling server key (default pathfinder)")


def add_browser_flags(parser: argparse.ArgumentParser, *, login: bool = True) -> None:
    parser.add_argument("--headless", action="store_true", help="no browser window")
    parser.add_argument(
        "--remote-debugging-port",
        type=int,
        metavar="N",
        help="expose the browser on 127.0.0.1:N for other tools. Any process on this machine, "
        "of any user, can then drive it and read what it holds: its Grafana login (cookies, "
        "a service-account token)"
        + (
            "; so it is refused with --token, GRAFANA_TOKEN, --storage-state or a password "
            "unless --allow-remote-debugging-with-login"
            if login
            else ""
        ),
    )
    if login:
        parser.add_argument(
            "--allow-remote-debugging-with-login",
            action="store_true",
            help="use --remote-debugging-port with a Grafana login anyway (every local user "
            "is trusted with that login)",
        )


#: Chromium flags that open DevTools to other processes (a pipe is the parent's alone).
#: Compared without their leading dashes: Chromium takes `-flag` as well as `--flag`.
REMOTE_DEBUGGING_ARGS = ("remote-debugging-port", "remote-debugging-address")


def check_remote_debugging(
    args: argparse.Namespace, login: GrafanaLogin, browser_args: Sequence[str] = ()
) -> None:
    """Refuse to expose a signed-in browser to every local process, unless told to.

    The port may come from the flag or from `browser.args` (a config file's
    `--remote-debugging-port=N`); either way a DevTools client reads the login.
    """
    from bridge.grafana.login import LoginKind

    by_flag = bool(getattr(args, "remote_debugging_port", None))
    by_config = any(
        arg.lstrip("-").lower().startswith(REMOTE_DEBUGGING_ARGS) for arg in browser_args
    )
    if (
        (by_flag or by_config)
        and login.kind is not LoginKind.NONE
        and not getattr(args, "allow_remote_debugging_with_login", False)
    ):
        where = "--remote-debugging-port" if by_flag else "browser.args' --remote-debugging-port"
        drop = "Drop --remote-debugging-port" if by_flag else "Take it out of browser.args"
        raise BridgeError(
            f"{where} would give every process on this machine, of any user, "
            f"this browser and its Grafana login ({login.describe()}): a DevTools client reads "
            f"the cookies and the token. {drop}, or add "
            "--allow-remote-debugging-with-login if every local user may use that login"
        )


def add_login_flags(parser: argparse.ArgumentParser, *, password: bool) -> None:
    """How to sign in to Grafana: a saved login, a service-account token (and for the
    presenter, a user and password)."""
    parser.add_argument(
        "--storage-state",
        type=Path,
        metavar="FILE",
        help="a saved Grafana login (Playwright storage-state JSON; `pathfinder-bridge login`)",
    )
    parser.add_argument(
        "--token",
        help="Grafana service-account token, sent to the Grafana origin only "
        "(or GRAFANA_TOKEN, which keeps it out of the process list)",
    )
    if password:
        parser.add_argument("--user", help="Grafana user to sign in as (or GRAFANA_USER)")
        parser.add_argument(
            "--password",
            help="Grafana password. Avoid it: other users of this machine can read it in the "
            "process list. Prefer GRAFANA_PASSWORD, or give --user alone to be asked for it",
        )


def grafana_login(args: argparse.Namespace, *, password: bool) -> GrafanaLogin:
    """The login the flags and environment ask for (reads a --storage-state file)."""
    from bridge.grafana.login import choose_login
    from bridge.grafana.state_file import read_saved_login

    path: Path | None = getattr(args, "storage_state", None)
    environ = dict(os.environ)
    if not password:
        environ.pop("GRAFANA_USER", None)
        environ.pop("GRAFANA_PASSWORD", None)
    return choose_login(
        storage_state=(str(path), read_saved_login(path)) if path is not None else None,
        token=getattr(args, "token", None),
        user=getattr(args, "user", None),
        password=getattr(args, "password", None),
        environ=environ,
    )


async def check_grafana_login(grafana_url: str, login: GrafanaLogin, *, headless: bool) -> None:
    """Say which login is used and whom it signs in as, before any browser starts; stop with
    what to do when it cannot work. A user and password are checked by the login form, and
    without a login a person may still sign in in a browser window."""
    from bridge.commands.terminal import show_login
    from bridge.grafana.api import GrafanaApi
    from bridge.grafana.login import LoginError, LoginKind

    if login.kind is LoginKind.PASSWORD:
        show_login(login, None)
        return
    try:
        who = await GrafanaApi(grafana_url).signed_in_as(login)
    except LoginError:
        if login.kind is not LoginKind.NONE or headless:
            raise
        show_login(login, None, note="Grafana asks for a login: sign in in the browser window")
        return
    show_login(login, who)


def client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.server:
        overrides["server_url"] = args.server
    if args.key:
        overrides["key"] = args.key
    return {"client": overrides}


def load(args: argparse.Namespace, overrides: dict[str, Any]) -> Config:
    path = args.config if args.config is not None else default_config_file()
    return load_config(path, overrides=overrides)


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run `main` until it finishes, Ctrl-C or SIGTERM; both end it cleanly by cancellation."""

    async def runner() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main()
        except asyncio.CancelledError:
            return EXIT_OK

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        return EXIT_OK
