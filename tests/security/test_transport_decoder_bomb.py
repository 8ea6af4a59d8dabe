"""Issue 9, item 8: decoder bombs on a presenter.

One 4 MB BinaryPack message of empty arrays (four million Python lists once decoded) cost
the presenter 300-550 MB and blocked its event loop while it decoded. Here a hostile attendee
sends that message as one frame (its own aiortc told to lift the send limit), and a 120 KB one
that fits the session's size limit but not its element cap; the presenter process's peak RSS
is read from /proc before and after, and it still answers and admits a real attendee.
"""

from __future__ import annotations

import asyncio
import time

from bridge.config import ClientConfig
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee
from tests.conftest import UNIT
from tests.security.attack_tools import endpoint, hostile_peer, receive_type, rss_mib
from tests.servers import CliProcess, our_signaling_server

#: How much the bombs may add to the presenter's peak resident memory (VmHWM: freed lists
#: leave the current RSS low, the peak is what runs a machine out of memory).
RSS_BOUND_MIB = 20.0


def empty_arrays(count: int) -> bytes:
    return b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count


async def test_binarypack_bombs_cost_the_presenter_almost_nothing() -> None:
    with our_signaling_server() as server:
        presenter = CliProcess("present", "--no-browser", "--server", server, stdin=True)
        with presenter:
            line = await asyncio.to_thread(
                presenter.wait_for, lambda text: text.startswith("Join code: "), 20 * UNIT
            )
            code = JoinCode.parse(line.split(": ", 1)[1])
            attacker = hostile_peer(server)
            await attacker.open()
            try:
                connection = await attacker.connect(code.id)
                assert connection.channel is not None and connection.pc.sctp is not None
                connection.pc.sctp._remote_max_message_size = 0  # the attacker's own limit: off
                await asyncio.sleep(1)
                before = rss_mib(presenter.process.pid, "VmHWM")
                sent_at = time.monotonic()
                for bomb in (empty_arrays(4_000_000), empty_arrays(120_000)):
                    connection.channel.send(bomb)
                async with asyncio.timeout(60 * UNIT):
                    while connection.channel.bufferedAmount > 0:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                # The channel is ordered: the answer to a join sent after the bombs means the
                # presenter has read through them.
                connection.send({"type": "attendee_join", "name": "Mallory", "mode": "guided"})
                answer = await receive_type(connection, "session_start", 60 * UNIT)
                answered_after = time.monotonic() - sent_at
                after = rss_mib(presenter.process.pid, "VmHWM")
                print(f"\nBinaryPack bombs: presenter peak RSS {before:.1f} -> {after:.1f} MiB")
                assert answer is not None
                real = LiveAttendee(ClientConfig(server_url=server), endpoint(server), code)
                await real.join()
                await real.close()
            finally:
                await attacker.close()
        print(f"(bound +{RSS_BOUND_MIB:g} MiB); it answered {answered_after:.2f} s after them")
        assert after - before <= RSS_BOUND_MIB
        assert "exceeds the size limit" in presenter.stderr
        assert "more than 4096 elements" in presenter.stderr
