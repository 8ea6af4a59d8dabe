"""BinaryPack: byte layouts as PeerJS writes them, round trips, chunking and limits."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import ProtocolError
from bridge.protocol import binarypack
from bridge.protocol.binarypack import CHUNK_MTU, Reassembler, chunk, pack, unpack

# (value, hex) as peerjs-js-binarypack 2.1 packs them (checked against it in
# tests/integration/test_binarypack_node.py).
LAYOUTS = [
    (None, "c0"),
    (True, "c3"),
    (False, "c2"),
    (0, "00"),
    (127, "7f"),
    (-1, "ff"),
    (-32, "e0"),
    (128, "cc80"),
    (-33, "d0df"),
    (300, "cd012c"),
    (-300, "d1fed4"),
    (70000, "ce00011170"),
    (-70000, "d2fffeee90"),
    (1732550000000, "d3000001936406fd80"),
    (1.5, "cb3ff8000000000000"),
    (2.0, "02"),
    ("", "b0"),
    ("hi", "b26869"),
    ("x" * 16, "d80010" + "78" * 16),
    (b"\x01\x02", "a20102"),
    (b"\x00" * 16, "da0010" + "00" * 16),
    ([1, 2], "920102"),
    ({"a": [True, False, None]}, "81b16193c3c2c0"),
]


@pytest.mark.parametrize(("value", "hex_bytes"), LAYOUTS)
def test_byte_layouts_match_peerjs(value: Any, hex_bytes: str) -> None:
    assert pack(value).hex() == hex_bytes
    decoded = unpack(bytes.fromhex(hex_bytes))
    assert decoded == value


def test_undefined_and_float32_decode() -> None:
    assert unpack(b"\xc1") is None
    assert unpack(bytes.fromhex("ca3fc00000")) == 1.5


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f))
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=20)
        | st.dictionaries(st.text(max_size=10), children, max_size=20)
    ),
    max_leaves=50,
)


@given(json_like)
def test_round_trip(value: Any) -> None:
    assert unpack(pack(value)) == value


@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        unpack(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xd9\xff\xff\xff\xff",
        b"\xdd\xff\xff\xff\xff",
        b"\xdf\x00\x01\x00\x00",
        b"\xb2\xff\xfe",
        b"\xc4",
        b"\x01\x02",
        b"\x91" * 100 + b"\xc0",
        b"\x81\x91\xc0\xc0",
    ],
)
def test_malformed_input_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack(data)


def test_chunks_are_peerjs_shaped_and_reassemble() -> None:
    packed = pack({"text": "y" * 40000})
    chunks = chunk(packed, message_id=1)
    assert len(chunks) == 3
    first = unpack(chunks[0])
    assert list(first) == ["__peerData", "n", "data", "total"]
    assert (first["__peerData"], first["n"], first["total"], len(first["data"])) == (
        1,
        0,
        3,
        CHUNK_MTU,
    )
    for joiner, order in ((Reassembler(), chunks), (Reassembler(ordered=False), chunks[::-1])):
        results = [joiner.feed(unpack(c), now=0.0) for c in order]
        assert results[:2] == [None, None]
        assert results[2] == packed and joiner.in_flight == 0


def test_reassembly_limits() -> None:
    joiner = Reassembler(
        max_message_bytes=CHUNK_MTU * 2, max_partial_messages=1, stale_after=5, ordered=False
    )
    with pytest.raises(ProtocolError, match="size limit"):
        joiner.feed({"__peerData": 1, "n": 0, "total": 10, "data": b"x"}, 0.0)
    assert joiner.feed({"__peerData": 2, "n": 0, "total": 2, "data": b"x"}, 0.0) is None
    with pytest.raises(ProtocolError, match="in flight"):
        joiner.feed({"__peerData": 3, "n": 0, "total": 2, "data": b"x"}, 1.0)
    assert joiner.prune(10.0) == 1  # stale partial dropped
    for bad in (
        {"__peerData": "x", "n": 0, "total": 1, "data": b""},
        {"__peerData": 4, "n": 2, "total": 2, "data": b""},
        {"__peerData": 4, "n": 0, "total": 1, "data": "text"},
    ):
        with pytest.raises(ProtocolError):
            joiner.feed(bad, 11.0)


def empty_arrays(count: int) -> bytes:
    """The review's bomb: one array of `count` empty arrays (one byte each on the wire)."""
    return b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count


def test_element_count_is_capped_before_anything_is_built() -> None:
    import tracemalloc

    bomb = empty_arrays(4_000_000)  # 4 MB: 4 million Python lists if decoded
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="more than 65536 elements"):
            unpack(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(bomb) + 2**20  # the input's copy, not ~500 MB of lists
    with pytest.raises(ProtocolError, match="more than 100 elements"):
        unpack(empty_arrays(101), max_items=100)
    assert unpack(empty_arrays(100), max_items=100) == [[]] * 100


def test_map_entries_count_and_depth_is_capped() -> None:
    entries = pack({str(i): i for i in range(50)})
    with pytest.raises(ProtocolError, match="elements"):
        unpack(entries, max_items=49)
    nested = pack([[[[["deep"]]]]])
    assert unpack(nested, max_depth=5) == [[[[["deep"]]]]]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        unpack(nested, max_depth=4)


def first_chunk(
    message_id: int, size: int = binarypack.CHUNK_MTU, total: int = 8
) -> dict[str, Any]:
    return {"__peerData": message_id, "n": 0, "data": b"\0" * size, "total": total}


def test_partials_share_one_budget_and_give_it_back() -> None:
    budget = binarypack.PartialBudget(3 * binarypack.CHUNK_MTU)
    first = binarypack.Reassembler(max_partial_messages=1, budget=budget)
    second = binarypack.Reassembler(max_partial_messages=1, budget=budget)
    assert first.feed(first_chunk(1), 0.0) is None
    assert first.feed(first_chunk(2), 0.0) is None  # one partial per connection: it replaces
    assert first.in_flight == 1 and budget.used == binarypack.CHUNK_MTU
    assert second.feed(first_chunk(1), 0.0) is None
    assert second.feed({**first_chunk(1), "n": 1}, 0.0) is None
    with pytest.raises(ProtocolError, match="all connections"):
        second.feed({**first_chunk(1), "n": 2}, 0.0)  # the shared budget is spent
    assert budget.used == binarypack.CHUNK_MTU  # second's partial went, and gave its bytes back
    first.clear()
    assert budget.used == 0


def test_a_partial_goes_when_its_owner_prunes_even_if_no_chunk_comes() -> None:
    budget = binarypack.PartialBudget(10**6)
    reassembler = binarypack.Reassembler(stale_after=10.0, budget=budget)
    reassembler.feed(first_chunk(1), 0.0)
    assert reassembler.prune(9.0) == 0 and reassembler.in_flight == 1
    assert reassembler.prune(10.5) == 1 and budget.used == 0


def test_a_chunk_larger_than_peerjs_cuts_is_refused() -> None:
    with pytest.raises(ProtocolError, match="over 16300"):
        binarypack.Reassembler().feed(first_chunk(1, size=130_000, total=9), 0.0)


def test_one_refused_chunk_does_not_hold_the_next_message_back() -> None:
    """A session connection keeps one chunked message in flight. A chunk refused (the shared
    budget spent) used to let the message's later chunks start a partial that could never be
    whole, holding the one place for 10 s, so the next real message was refused too."""
    budget = binarypack.PartialBudget(2 * binarypack.CHUNK_MTU)
    joiner = Reassembler(max_partial_messages=1, stale_after=10.0, budget=budget)
    hog = Reassembler(budget=budget)
    hog.feed(first_chunk(1, total=3), 0.0)
    assert joiner.feed(first_chunk(1, total=3), 0.0) is None
    with pytest.raises(ProtocolError, match="all connections"):
        joiner.feed({**first_chunk(1, total=3), "n": 1}, 0.0)  # the budget is spent
    hog.clear()
    with pytest.raises(ProtocolError, match="first chunk was not taken"):
        joiner.feed({**first_chunk(1, total=3), "n": 2}, 0.1)  # no partial from its tail
    assert joiner.in_flight == 0 and budget.used == 0
    packed = pack({"text": "z" * 20000})
    results = [joiner.feed(unpack(c), 0.2) for c in chunk(packed, message_id=2)]
    assert results[-1] == packed


def test_a_new_message_replaces_one_that_never_finished() -> None:
    # Chunks of one message come one after another on an ordered channel: a new message's first
    # chunk means the one in flight lost its tail (a frame over the rate limit, say).
    budget = binarypack.PartialBudget(10**6)
    joiner = Reassembler(max_partial_messages=1, stale_after=10.0, budget=budget)
    joiner.feed(first_chunk(1, total=3), 0.0)
    packed = pack({"text": "z" * 20000})
    results = [joiner.feed(unpack(c), 0.1) for c in chunk(packed, message_id=2)]
    assert results[-1] == packed and joiner.in_flight == 0 and budget.used == 0
