"""Signaling benchmark: our server against npm `peer` 1.0.x, side by side in one run.

Figures, for each server: time to register N = 100, 1,000, 2,000 peers (held open at once) and
the server's CPU for 2,000; server RSS with 2,000 peers; OFFER relay throughput (every sender
blasts its OFFERs at its receiver) and the server's CPU per relayed OFFER; relay latency
p50/p99 of paced OFFERs; a join storm (1,000 peers connect within 2 s and each sends one
OFFER on OPEN: time to OPEN p99 and OFFER relay p99). With `--cluster`, also two of our
instances on one Redis behind HAProxy against one instance, cross-instance pairs.

The load comes from `benchmarks/loadgen.py` worker processes (lean raw-socket clients); their
CPU time is printed beside the server's, so a reader can see that the clients kept up. The
machine is shared: rounds interleave the servers and the table shows medians, with the load
average before and after. CPU figures come from /proc and move little with other load.

Our server is started with the per-IP connection and reservation limits and the per-socket
rate limit raised (every benchmark peer comes from 127.0.0.1 and blasts messages); everything
else is the default, reservations and their file included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import npm_peer_server, our_signaling_server  # noqa: E402

LOADGEN = Path(__file__).with_name("loadgen.py")
PATH = "/pathfinder"
WORKERS = 4
THROUGHPUT_PAIRS = 25  # per worker
THROUGHPUT_MESSAGES = 1000  # per sender
LATENCY_PAIRS = 25  # per worker: 100 pairs in all
LATENCY_ROUNDS = 20
LATENCY_INTERVAL = 0.02
STORM_PEERS = 1000
STORM_SPREAD = 2.0


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: a figure that other load on the machine hardly moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    from bridge.signaling.ports import port_holder

    holder = port_holder(port)
    assert holder is not None
    return holder[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * fraction + 0.5) - 1)]


class Workers:
    """Load generator processes, one job each; they start, get ready, then run on `go`."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.processes = [
            subprocess.Popen(
                [sys.executable, str(LOADGEN), json.dumps(job)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for job in jobs
        ]
        for process in self.processes:
            self._read(process)

    def _read(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a load generator exited ({process.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def go(self) -> float:
        started = time.monotonic()
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return started

    def results(self) -> list[dict[str, Any]]:
        return [self._read(process) for process in self.processes]

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Target:
    """Where the load goes: the ports senders and receivers use, and the server processes."""

    name: str
    senders: list[tuple[str, int]]
    receivers: list[tuple[str, int]]
    pids: list[int]
    metrics_url: str = ""

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> float:
        return sum(rss_mib(pid) for pid in self.pids)


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)

    def __setitem__(self, key: str, value: float) -> None:
        self.values[key] = value


def relay(target: Target, figures: Figures, *, paced: bool, tag: str) -> None:
    pairs = LATENCY_PAIRS if paced else THROUGHPUT_PAIRS
    messages = LATENCY_ROUNDS if paced else THROUGHPUT_MESSAGES
    jobs = [
        {
            "kind": "relay",
            "prefix": f"{tag}w{w}",
            "pairs": pairs,
            "messages": messages,
            "interval": LATENCY_INTERVAL if paced else None,
            "senders": target.senders,
            "receivers": target.receivers,
            "path": PATH,
        }
        for w in range(WORKERS)
    ]
    with Workers(jobs) as workers:
        cpu = target.cpu()
        started = workers.go()
        results = workers.results()
        server_cpu = target.cpu() - cpu
    total = WORKERS * pairs * messages
    elapsed = max(r["end"] for r in results) - started
    clients_cpu = sum(r["cpu"] for r in results)
    if paced:
        latencies = [x for r in results for x in r["latencies"]]
        figures["relay latency p50 (ms)"] = statistics.median(latencies)
        figures["relay latency p99 (ms)"] = percentile(latencies, 0.99)
    else:
        figures["relay throughput (msg/s)"] = total / elapsed
        figures["server CPU per relayed OFFER (us)"] = server_cpu / total * 1e6
        figures["server CPU during relay (%)"] = server_cpu / elapsed * 100
        figures["clients CPU during relay (%)"] = clients_cpu / elapsed * 100


def register(target: Target, figures: Figures, n: int, tag: str) -> None:
    per_worker = n // WORKERS
    endpoints = target.senders + [e for e in target.receivers if e not in target.senders]
    jobs = [
        {"kind": "register", "prefix": f"{tag}n{n}w{w}x", "count": per_worker, "path": PATH}
        | {"endpoints": endpoints}
        for w in range(WORKERS)
    ]
    with Workers(jobs) as workers:
        cpu = target.cpu()
        started = workers.go()
        results = workers.results()
        figures[f"register {n} peers (s)"] = max(r["end"] for r in results) - started
        if n >= 2000:
            figures[f"server CPU to register {n} peers (s)"] = target.cpu() - cpu
            time.sleep(0.5)
            figures[f"server RSS with {n} peers (MiB)"] = target.rss()
    time.sleep(0.5)


def storm(target: Target, figures: Figures, tag: str) -> None:
    per_worker = STORM_PEERS // WORKERS
    jobs = [
        {
            "kind": "storm",
            "prefix": f"{tag}st{w}x",
            "count": per_worker,
            "spread": STORM_SPREAD,
            "endpoints": target.senders,
            "path": PATH,
        }
        for w in range(WORKERS)
    ]
    with Workers(jobs) as workers:
        workers.go()
        results = workers.results()
    opens = [x for r in results for x in r["to_open"]]
    relays = [x for r in results for x in r["latencies"]]
    figures["join storm: time to OPEN p99 (ms)"] = percentile(opens, 0.99)
    figures["join storm: OFFER relay p99 (ms)"] = percentile(relays, 0.99)
    time.sleep(0.5)


def measure(target: Target, sizes: list[int], tag: str, only: set[str]) -> dict[str, float]:
    figures = Figures()
    if "register" in only:
        for n in sizes:
            register(target, figures, n, tag)
    if "relay" in only:
        relay(target, figures, paced=False, tag=tag + "t")
        time.sleep(0.5)
        relay(target, figures, paced=True, tag=tag + "l")
        time.sleep(0.5)
    if "storm" in only:
        storm(target, figures, tag)
    return figures.values


@contextlib.contextmanager
def bench_env() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_CONNECTIONS_PER_IP"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MESSAGES_PER_SECOND"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MESSAGE_BURST"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS_PER_IP"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATIONS_PER_SECOND_PER_IP"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP"] = "100000"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def endpoint(url: str) -> tuple[str, int]:
    return "127.0.0.1", int(url.split(":")[2].split("/")[0])


@contextlib.contextmanager
def ours() -> Iterator[Target]:
    with bench_env(), our_signaling_server() as url:
        at = endpoint(url)
        yield Target("ours", [at], [at], [server_pid(at[1])], url + "/metrics")


@contextlib.contextmanager
def npm_peer() -> Iterator[Target]:
    with npm_peer_server() as url:
        at = endpoint(url)
        yield Target("npm peer", [at], [at], [server_pid(at[1])])


@contextlib.contextmanager
def cluster(kind: str) -> Iterator[Target]:
    """`one`: one instance (with Redis) behind HAProxy; `two`: two instances behind HAProxy,
    senders and receivers pinned to different instances (every relay crosses)."""
    from tests.servers import cluster_of_two

    with bench_env(), cluster_of_two() as parts:
        proxy = endpoint(parts.proxy_url)
        a, b = endpoint(parts.instance_urls[0]), endpoint(parts.instance_urls[1])
        pids = [server_pid(a[1]), server_pid(b[1])]
        if kind == "one":
            yield Target("one instance", [a], [a], pids)
        elif kind == "proxy":
            yield Target("two behind HAProxy", [proxy], [proxy], pids)
        else:
            yield Target("two, cross-instance", [a], [b], pids)


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"


def print_table(
    columns: list[str], rounds: dict[str, list[dict[str, float]]], ratio: tuple[str, str] | None
) -> None:
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    keys = list(medians[columns[0]])
    width = max(len(k) for k in keys)
    cell = 24
    header = f"{'figure':<{width}}" + "".join(f"  {c:>{cell}}" for c in columns)
    if ratio:
        header += f"  {ratio[0] + '/' + ratio[1]:>12}"
    print(header)
    print("-" * len(header))
    for key in keys:
        line = f"{key:<{width}}"
        for c in columns:
            values = [r[key] for r in rounds[c]]
            text = number(medians[c][key])
            if len(values) > 1:
                text += f" ({number(min(values))}-{number(max(values))})"
            line += f"  {text:>{cell}}"
        if ratio:
            line += f"  {medians[ratio[0]][key] / medians[ratio[1]][key]:>12.2f}"
        print(line)


def run_rounds(
    contenders: dict[str, Callable[[], contextlib.AbstractContextManager[Target]]],
    count: int,
    sizes: list[int],
    only: set[str],
) -> dict[str, list[dict[str, float]]]:
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for index in range(count):
        for name, make in contenders.items():
            with make() as target:
                figures = measure(target, sizes, f"r{index}", only)
            rounds[name].append(figures)
            print(f"  round {index + 1}/{count} {name}: done", file=sys.stderr, flush=True)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000", help="peer counts to register")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument(
        "--only", default="register,relay,storm", help="figures: register, relay, storm"
    )
    parser.add_argument("--cluster", action="store_true", help="also the cluster figures")
    parser.add_argument("--skip-peer", action="store_true", help="only our server")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    raise_fd_limit()
    load_before = os.getloadavg()
    contenders: dict[str, Callable[[], contextlib.AbstractContextManager[Target]]] = {"ours": ours}
    if not args.skip_peer:
        contenders["npm peer"] = npm_peer
    rounds = run_rounds(contenders, args.rounds, sizes, only)
    load_after = os.getloadavg()
    print(
        f"\nSignaling benchmark ({os.cpu_count()} cores, loopback, {WORKERS} client processes, "
        f"median of {args.rounds} interleaved rounds, min-max in brackets; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after)\n"
    )
    print_table(list(contenders), rounds, ("ours", "npm peer") if not args.skip_peer else None)
    if args.cluster:
        cluster_only = only & {"relay"} or {"relay"}
        clusters: dict[str, Callable[[], contextlib.AbstractContextManager[Target]]] = {
            "one instance": lambda: cluster("one"),
            "two, cross-instance": lambda: cluster("two"),
            "two behind HAProxy": lambda: cluster("proxy"),
        }
        rounds = run_rounds(clusters, args.rounds, sizes, cluster_only)
        print("\nCluster (Redis; one instance, or two with every pair across them)\n")
        print_table(list(clusters), rounds, ("two, cross-instance", "one instance"))


if __name__ == "__main__":
    main()
