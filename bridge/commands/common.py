"""What every command shares: exit codes, common flags, config loading, and running a
coroutine until it ends, Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bridge.config import Config, default_config_file, load_config

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


def add_browser_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no browser window")
    parser.add_argument(
        "--remote-debugging-port",
        type=int,
        metavar="N",
        help="expose the browser on 127.0.0.1:N for other tools",
    )


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
