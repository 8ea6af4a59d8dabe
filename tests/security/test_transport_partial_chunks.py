"""Red-team finding 5: partial chunked messages stay in the presenter's memory.

A connection could keep 8 chunked messages in flight, each up to the 128 KiB session limit,
pruned only when another chunk came on that connection: 64 connections sending first chunks
of 130 KB messages added 70.8 MiB to a presenter. Here hostile attendees send, on each of
their connections, all but the last chunk of 8 messages (PeerJS-sized chunks of 16,300
bytes) at a real `present` process, and never the rest. A second review found that one
refused chunk (over the shared budget) let the rest of its message start a partial that could
never be whole, holding the connection's one place for 10 s: the next real chunked message was
refused too.
"""

from __future__ import annotations

import asyncio

from bridge.protocol import binarypack
from bridge.protocol.joincode import JoinCode
from bridge.transport.dataconnection import DataConnection
from tests.conftest import UNIT
from tests.security.attack_tools import hostile_peer, receive_type, rss_mib
from tests.servers import CliProcess, our_signaling_server

PEERS = 16
PER_PEER = 4
MESSAGES = 8
CHUNKS = 7  # of 8: never whole
#: What the partials may add to the presenter (one per connection now, 114 KB each: 7.3 MB,
#: and what reading the rest costs; 8 per connection before: 58 MB).
RSS_BOUND_MIB = 20.0


def chunks_but_the_last(message_id: int) -> list[bytes]:
    data = b"\0" * binarypack.CHUNK_MTU
    return [
        binarypack.pack({"__peerData": message_id, "n": n, "data": data, "total": CHUNKS + 1})
        for n in range(CHUNKS)
    ]


async def test_partial_chunked_messages_are_bounded_per_connection_and_in_total() -> None:
    with our_signaling_server() as server:
        with CliProcess("present", "--no-browser", "--server", server) as presenter:
            line = presenter.wait_for(lambda text: text.startswith("Join code: "))
            code = JoinCode.parse(line.split(": ", 1)[1])
            pid = presenter.process.pid
            peers = [hostile_peer(server) for _ in range(PEERS)]
            connections: list[DataConnection] = []
            try:
                for peer in peers:
                    await peer.open()
                    for _ in range(PER_PEER):
                        connections.append(await peer.connect(code.id, open_timeout=10 * UNIT))
                await asyncio.sleep(1)
                before = rss_mib(pid)
                for connection in connections:
                    assert connection.channel is not None
                    for message_id in range(1, MESSAGES + 1):
                        for frame in chunks_but_the_last(message_id):
                            connection.channel.send(frame)
                # The channels are ordered: an answer to a join sent after the chunks means
                # the presenter has read through them.
                for connection in connections:
                    connection.send({"type": "attendee_join", "name": "m", "mode": "guided"})
                answers = await asyncio.gather(
                    *(receive_type(c, "session_start", 30 * UNIT) for c in connections)
                )
                after = rss_mib(pid)
                print(
                    f"\n{len(connections)} connections x {MESSAGES} partial messages: presenter "
                    f"RSS {before:.1f} -> {after:.1f} MiB"
                )
                # A peer id keeps one joined connection (each join replaces the one before):
                # every peer's surviving connection was answered, after all of its chunks.
                async with asyncio.timeout(10 * UNIT):
                    while sum(not c.closed.is_set() for c in connections) > PEERS:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                survivors = [
                    a for c, a in zip(connections, answers, strict=True) if not c.closed.is_set()
                ]
                assert len(survivors) == PEERS
                assert all(answer is not None for answer in survivors)
                assert after - before < RSS_BOUND_MIB
            finally:
                for peer in peers:
                    await peer.close()


def join_frames(name: str, message_id: int, pad: int = 0) -> list[bytes]:
    """An attendee_join as PeerJS frames: chunked when `pad` makes it over 16,300 bytes."""
    join = {"type": "attendee_join", "name": name, "mode": "guided", "pad": "x" * pad}
    packed = binarypack.pack(join)
    return binarypack.chunk(packed, message_id) if len(packed) > binarypack.CHUNK_MTU else [packed]


async def test_a_chunk_over_the_shared_budget_does_not_hold_back_the_next_message() -> None:
    """The shared budget (client.max_partial_bytes) scaled down to two chunks: a 4-chunk
    message's third chunk is refused, so the message is lost; its fourth must not start a
    partial. The attendee then joins with a chunked attendee_join, then with a small one:
    the chunked one is heard (the small one, a repeat, is ignored)."""
    env = {"PATHFINDER_BRIDGE_CLIENT_MAX_PARTIAL_BYTES": str(2 * binarypack.CHUNK_MTU)}
    with our_signaling_server() as server:
        with CliProcess("present", "--no-browser", "--server", server, env=env) as presenter:
            line = presenter.wait_for(lambda text: text.startswith("Join code: "))
            code = JoinCode.parse(line.split(": ", 1)[1])
            async with hostile_peer(server) as peer:
                connection = await peer.connect(code.id, open_timeout=10 * UNIT)
                assert connection.channel is not None
                lost = binarypack.chunk(binarypack.pack({"pad": "y" * 60_000}), 1)
                assert len(lost) == 4  # two fit the budget, the third is over it
                frames = lost + join_frames("Chunked", 2, pad=20_000) + join_frames("Small", 3)
                for frame in frames:
                    connection.channel.send(frame)
                assert await receive_type(connection, "session_start", 20 * UNIT) is not None
                joined = presenter.wait_for(lambda text: text.startswith("+ "), 10 * UNIT)
                assert joined.startswith("+ Chunked joined"), joined
                assert presenter.wait_for_stderr("chunked messages in flight (all connections)")
