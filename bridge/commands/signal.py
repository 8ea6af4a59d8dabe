"""`pathfinder-bridge signal`: the PeerJS-compatible signaling server, in the foreground or
managed in the background (start, stop, status, restart)."""

from __future__ import annotations

import argparse
import gc
from typing import Any

from bridge.commands.common import (
    EXIT_NOT_RUNNING,
    EXIT_OK,
    add_common_flags,
    load,
    run_async,
)

NAME = "signal"
HELP = "run the PeerJS-compatible signaling server"

_SERVER_FLAGS = (
    "host",
    "port",
    "path",
    "key",
    "alive_timeout",
    "expire_timeout",
    "reservation_grace",
    "allow_discovery",
    "allowed_origins",
    "tls_cert",
    "tls_key",
    "state_dir",
    "redis_url",
    "instance_name",
    "trusted_proxies",
)
#: Flags whose name is not the config key's.
_FLAG_NAMES = {"redis_url": "--redis", "allowed_origins": "--allowed-origin"}
_REPEATED = {"allowed_origins": "--allowed-origin", "trusted_proxies": "--trusted-proxy"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the signaling server in the foreground, or manage it in the background."
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("run", "start", "stop", "status", "restart"),
        default="run",
        help="run (foreground, default), or start|stop|status|restart in the background",
    )
    add_common_flags(parser)
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 9000; 0 picks a free one)")
    parser.add_argument("--path", help="URL path (default /pathfinder)")
    parser.add_argument("--key", help="API key clients must present (default pathfinder)")
    parser.add_argument(
        "--alive-timeout", type=float, help="seconds of silence before a peer is dropped"
    )
    parser.add_argument(
        "--expire-timeout", type=float, help="seconds a message waits for an absent peer"
    )
    parser.add_argument(
        "--reservation-grace",
        type=float,
        metavar="SECONDS",
        help="how long an id stays reserved for its token after its owner left (0: off)",
    )
    parser.add_argument(
        "--allow-discovery", action="store_true", default=None, help="serve the peer list"
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="allow this browser Origin (repeatable; default any)",
    )
    parser.add_argument("--tls-cert", help="certificate (PEM) to serve https and wss")
    parser.add_argument("--tls-key", help="private key (PEM) for --tls-cert")
    parser.add_argument(
        "--state-dir", help="where the pid, log and reservation files live (owner-only)"
    )
    parser.add_argument(
        "--redis",
        dest="redis_url",
        metavar="redis://HOST:PORT/DB",
        help="cluster mode: every instance on this Redis serves one realm",
    )
    parser.add_argument(
        "--instance-name", help="this instance's name in the cluster (default HOST:PORT)"
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        dest="trusted_proxies",
        metavar="ADDRESS",
        help="a load balancer whose X-Forwarded-For names the client (repeatable)",
    )


def server_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        name: getattr(args, name) for name in _SERVER_FLAGS if getattr(args, name, None) is not None
    }


def background_flags(args: argparse.Namespace) -> list[str]:
    """The flags to hand to a background `signal run`, so it runs what was asked."""
    flags: list[str] = []
    for name, value in server_overrides(args).items():
        flag = _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
        if name in _REPEATED:
            for item in value:
                flags += [_REPEATED[name], item]
        elif value is True:
            flags.append(flag)
        else:
            flags += [flag, str(value)]
    if args.config is not None:
        flags += ["--config", str(args.config.resolve())]
    if args.verbose:
        flags.append("-" + "v" * args.verbose)
    return flags


def run(args: argparse.Namespace) -> int:
    from bridge.signaling import service
    from bridge.signaling.server import SignalingServer

    config = load(args, {"server": server_overrides(args)})
    if args.action == "status":
        state = service.status(config.server)
        print(state.describe())
        return EXIT_OK if state.running else EXIT_NOT_RUNNING
    if args.action == "stop":
        stopped = service.stop(config.server)
        print("Signaling server stopped" if stopped else "Signaling server was not running")
        return EXIT_OK
    if args.action in ("start", "restart"):
        if args.action == "restart":
            service.stop(config.server)
        state = service.start(config.server, background_flags(args))
        print(f"Signaling server started: pid {state.pid}, {state.url}")
        print(f"Log: {service.ServiceFiles.for_port(config.server).log}")
        return EXIT_OK

    async def serve() -> int:
        async with SignalingServer(config.server) as server:
            # What is loaded by now (modules, classes: most of the heap) lives as long as the
            # process: the collector need not scan it again and again, which showed as
            # pauses in the relay's p99 latency.
            gc.freeze()
            print("pathfinder-bridge signaling server (PeerJS-compatible)")
            print(f"  URL:  {server.url}")
            print(f"  Key:  {config.server.key}")
            print(f"  Metrics: {server.url}/metrics")
            print("Ready for connections", flush=True)
            await server.serve_forever()
        return EXIT_OK

    return run_async(serve)
