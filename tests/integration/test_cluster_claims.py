"""The claim rule, run by the memory store and by the Redis script (a real redis-server):
the same scenarios, the same answers. The realm's rule lives in `decide_claim`; the script
is its atomic form for a shared store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest
import redis

from bridge.signaling.cluster_scripts import CLAIM, RELEASE
from bridge.signaling.reservations import (
    Claim,
    ClaimResult,
    MemoryReservationStore,
    Reservation,
    token_digest,
)
from tests.servers import RedisServer

SALT = bytes(16)
MAX_TOTAL = 3
MAX_PER_IP = 2
MAX_AWAY = 1


class Store(Protocol):
    def claim(self, id: str, token: str, ip: str, conn: int) -> tuple[ClaimResult, bool]: ...

    def leave(self, id: str, token: str, ip: str, conn: int, grace: float) -> None: ...


class Memory:
    def __init__(self) -> None:
        self.store = MemoryReservationStore(SALT)

    def claim(self, id: str, token: str, ip: str, conn: int) -> tuple[ClaimResult, bool]:
        outcome = self.store.claim(
            Claim(conn, id, token_digest(SALT, token), ip),
            0.0,
            max_total=MAX_TOTAL,
            max_per_ip=MAX_PER_IP,
        )
        return outcome.result, outcome.reserved

    def leave(self, id: str, token: str, ip: str, conn: int, grace: float) -> None:
        if grace > 0:
            self.store.put(
                Reservation(id, token_digest(SALT, token), grace, ip, conn),
                max_away_per_ip=MAX_AWAY,
            )
        else:
            self.store.remove(id, conn)


class InRedis:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.claim_script = client.register_script(CLAIM)
        self.release_script = client.register_script(RELEASE)

    def claim(self, id: str, token: str, ip: str, conn: int) -> tuple[ClaimResult, bool]:
        answer = self.claim_script(
            keys=[],
            args=[
                self.prefix,
                id,
                token_digest(SALT, token),
                ip,
                f"i~1/{conn}",
                60_000,
                MAX_TOTAL,
                MAX_PER_IP,
                "i~1",
            ],
        )
        return ClaimResult(answer[0].decode()), answer[0] == b"claimed" and answer[1] == b"1"

    def leave(self, id: str, token: str, ip: str, conn: int, grace: float) -> None:
        self.release_script(
            keys=[], args=[self.prefix, id, f"i~1/{conn}", int(grace * 1000), MAX_AWAY]
        )


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Store:
    if request.param == "memory":
        return Memory()
    return InRedis(redis_client, f"test:{request.node.name}:")


def test_an_id_is_its_tokens(store: Store) -> None:
    assert store.claim("alice", "t1", "1.1.1.1", 1) == (ClaimResult.CLAIMED, False)
    assert store.claim("alice", "t2", "1.1.1.1", 2) == (ClaimResult.TAKEN, False)
    assert store.claim("alice", "t1", "2.2.2.2", 3) == (ClaimResult.CLAIMED, True)


def test_an_owner_that_left_keeps_its_id_for_the_grace_and_one_that_gave_it_up_does_not(
    store: Store,
) -> None:
    store.claim("alice", "t1", "1.1.1.1", 1)
    store.leave("alice", "t1", "1.1.1.1", 1, grace=30.0)
    assert store.claim("alice", "t2", "1.1.1.1", 2)[0] is ClaimResult.TAKEN
    assert store.claim("alice", "t1", "1.1.1.1", 3) == (ClaimResult.CLAIMED, True)
    store.leave("alice", "t1", "1.1.1.1", 3, grace=0)
    assert store.claim("alice", "t2", "1.1.1.1", 4) == (ClaimResult.CLAIMED, False)


def test_caps_in_total_and_per_address_apply_to_new_ids_only(store: Store) -> None:
    assert store.claim("a", "t", "1.1.1.1", 1)[0] is ClaimResult.CLAIMED
    assert store.claim("b", "t", "1.1.1.1", 2)[0] is ClaimResult.CLAIMED
    assert store.claim("c", "t", "1.1.1.1", 3)[0] is ClaimResult.IP_FULL
    assert store.claim("c", "t", "2.2.2.2", 4)[0] is ClaimResult.CLAIMED
    assert store.claim("d", "t", "3.3.3.3", 5)[0] is ClaimResult.FULL
    # Held ids come back to their tokens whatever the caps.
    assert store.claim("a", "t", "1.1.1.1", 6)[0] is ClaimResult.CLAIMED


def test_away_ids_are_capped_per_range_and_the_oldest_goes_first(store: Store) -> None:
    assert store.claim("a", "t", "loopback", 1)[0] is ClaimResult.CLAIMED
    assert store.claim("b", "t", "loopback", 2)[0] is ClaimResult.CLAIMED
    assert store.claim("c", "t", "10.0.0.0/24", 3)[0] is ClaimResult.CLAIMED
    store.leave("c", "t", "10.0.0.0/24", 3, grace=30.0)
    store.leave("a", "t", "loopback", 1, grace=30.0)
    store.leave("b", "t", "loopback", 2, grace=30.0)  # past the range's cap: a goes
    assert store.claim("a", "x", "loopback", 4) == (ClaimResult.CLAIMED, False)
    assert store.claim("b", "x", "loopback", 5)[0] is ClaimResult.TAKEN
    assert store.claim("c", "x", "10.0.0.0/24", 5)[0] is ClaimResult.TAKEN  # another range's
    # Taken back, b is held again; gone again, it is the newest away id.
    assert store.claim("b", "t", "loopback", 6) == (ClaimResult.CLAIMED, True)
    store.leave("b", "t", "loopback", 6, grace=30.0)
    store.leave("a", "x", "loopback", 4, grace=30.0)  # b is the oldest away id now
    assert store.claim("b", "y", "loopback", 7) == (ClaimResult.CLAIMED, False)
    assert store.claim("a", "y", "loopback", 8)[0] is ClaimResult.TAKEN
