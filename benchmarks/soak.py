"""Soak: a presenter and 20 attendees, an event every 500 ms, faults on a schedule, for 10 minutes.

Faults: every 30 s one attendee's data connection is cut (its peer connection closed), every
120 s the signaling server is stopped and started again on the same port. At the end it prints,
per attendee, events received, duplicates (must be 0) and events broadcast while it was
connected that it never got (must be 0), and the presenter's RSS per minute (must stay flat).
`python benchmarks/soak.py --minutes 1` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.config import ClientConfig, ServerConfig
from bridge.protocol.events import InteractiveAction, ShowMe, StepEvent, TargetAction
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint
from tests.servers import free_port

CLIENT = ClientConfig(reconnect_initial=0.2, reconnect_max=2.0, presenter_grace=120.0)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclasses.dataclass
class Tally:
    received: Counter[str] = dataclasses.field(default_factory=Counter)
    gaps: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # away from..to


async def attend(attendee: LiveAttendee, tally: Tally) -> None:
    while (event := await attendee.next_event()) is not None:
        if isinstance(event, StepEvent):
            tally.received[event.stepId] += 1


async def main(minutes: float, attendees: int) -> None:
    port = free_port()
    config = ServerConfig(port=port)
    server = SignalingServer(config)
    await server.start()
    endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
    presenter = LivePresenter(CLIENT, endpoint, name="soak")
    code = await presenter.start()
    people = [LiveAttendee(CLIENT, endpoint, code, name=f"s{i}") for i in range(attendees)]
    tallies = [Tally() for _ in people]
    for person in people:
        await person.join()
    listeners = [asyncio.create_task(attend(p, t)) for p, t in zip(people, tallies, strict=True)]
    sent: list[tuple[str, float, list[bool]]] = []  # step, time, who was joined then
    rss: list[float] = [rss_mib()]
    rng = random.Random(7)
    start = time.monotonic()
    end = start + minutes * 60
    next_cut, next_restart, next_sample = start + 30, start + 120, start + 60
    faults = Counter[str]()
    i = 0
    while time.monotonic() < end:
        joined = {a.name for a in presenter.attendees}
        step = f"e{i}"
        presenter.broadcast(
            ShowMe(stepId=step, action=InteractiveAction(TargetAction.HIGHLIGHT, f"#{step}"))
        )
        sent.append((step, time.monotonic(), [p.session.name in joined for p in people]))
        i += 1
        now = time.monotonic()
        if now >= next_cut:
            victim = rng.randrange(len(people))
            connection = people[victim].connection
            if connection is not None:
                await connection.pc.close()
                faults["attendee connection cut"] += 1
            next_cut += 30
        if now >= next_restart:
            await server.close()
            await asyncio.sleep(1.0)
            server = SignalingServer(config)
            await server.start()
            faults["signaling server restarted"] += 1
            next_restart += 120
        if now >= next_sample:
            rss.append(rss_mib())
            next_sample += 60
            print(
                f"  {int((now - start) / 60)} min: {i} events, RSS {rss[-1]:.1f} MiB",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)
    for person in people:
        await person.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    await presenter.stop()
    await server.close()

    print(f"\nSoak: {minutes:g} min, {attendees} attendees, {len(sent)} events every 500 ms")
    print("Faults: " + ", ".join(f"{n} x {what}" for what, n in faults.items()))
    duplicates = missed = 0
    for index, (person, tally) in enumerate(zip(people, tallies, strict=True)):
        duplicates += sum(n - 1 for n in tally.received.values() if n > 1)
        # Sent while this attendee was joined (and not in its last second: in flight at a cut).
        expected = [
            s
            for k, (s, at, who) in enumerate(sent)
            if who[index] and k + 2 < len(sent) and sent[k + 2][2][index]
        ]
        missed += sum(1 for s in expected if tally.received[s] == 0)
        _ = person
    reconnects = sum(p.reconnects for p in people)
    print(f"Reconnects: {reconnects}; duplicates: {duplicates}; missed while connected: {missed}")
    print("Presenter RSS per minute (MiB): " + " ".join(f"{r:.1f}" for r in rss))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--attendees", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.minutes, arguments.attendees))
