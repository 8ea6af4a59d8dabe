"""Red-team finding 5: partial chunked messages stay in the presenter's memory.

A connection could keep 8 chunked messages in flight, each up to the 128 KiB session limit,
pruned only when another chunk came on that connection: 64 connections sending first chunks
of 130 KB messages added 70.8 MiB to a presenter. Here hostile attendees send, on each of
their connections, all but the last chunk of 8 messages (PeerJS-sized chunks of 16,300
bytes) at a real `present` process, and never the rest.
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
                    *(receive_type(c, "session_start", 30 * UNIT) for c in connections[-PEERS:])
                )
                after = rss_mib(pid)
                print(
                    f"\n{len(connections)} connections x {MESSAGES} partial messages: presenter "
                    f"RSS {before:.1f} -> {after:.1f} MiB"
                )
                assert any(answer is not None for answer in answers)
                assert after - before < RSS_BOUND_MIB
            finally:
                for peer in peers:
                    await peer.close()
