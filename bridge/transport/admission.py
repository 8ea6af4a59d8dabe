"""Which incoming OFFERs a peer negotiates: bounded in total and per remote id, fair to newcomers.

Sans-I/O: `offer()` takes the OFFER's connection id, the remote peer id (the `src` the
signaling server set) and the time, and says whether to negotiate it and which pending
negotiation to drop to make room. Every negotiation costs an aiortc connection (two UDP
sockets, a task, an ANSWER on the signaling socket) until its channel opens or it fails, so:

- at most `max_pending` negotiations in all and `max_pending_per_peer` per remote id;
- admissions are paced (`per_second`, bursts of `burst`), which also bounds our ANSWERs;
- a remote id whose negotiation failed or was evicted is *suspect* (remembered, LRU): it gets
  one slot, a slower admission rate, and never takes anyone's slot;
- when every slot is taken, a newcomer that is not suspect takes the slot of the oldest
  negotiation of a suspect id, else of an id holding several, else of one older than
  `stale_after`. A real attendee's first OFFER therefore gets through a flood, and once in it
  is evicted only by a newcomer after `stale_after` seconds.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from bridge.ratelimit import TokenBucket


@dataclass(frozen=True)
class AdmissionLimits:
    max_pending: int = 64
    max_pending_per_peer: int = 2
    per_second: float = 20.0
    burst: float = 64.0
    suspect_per_second: float = 2.0
    suspect_burst: float = 4.0
    stale_after: float = 5.0
    remembered_suspects: int = 4096


@dataclass(frozen=True)
class Admission:
    admitted: bool
    #: The pending negotiation (connection id) to drop first, when the table was full.
    evict: str | None = None
    reason: str = ""


@dataclass
class _Pending:
    remote_id: str
    started: float


@dataclass
class NegotiationAdmission:
    limits: AdmissionLimits = field(default_factory=AdmissionLimits)
    refused: int = 0
    evicted: int = 0
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _suspects: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _fresh_rate: TokenBucket | None = None
    _suspect_rate: TokenBucket | None = None

    def offer(self, connection_id: str, remote_id: str, now: float) -> Admission:
        """Decide on one OFFER. An admitted one counts as pending until `finished()`."""
        limits = self.limits
        if self._fresh_rate is None or self._suspect_rate is None:
            self._fresh_rate = TokenBucket(limits.per_second, limits.burst, updated=now)
            self._suspect_rate = TokenBucket(
                limits.suspect_per_second, limits.suspect_burst, updated=now
            )
        suspect = remote_id in self._suspects
        mine = sum(1 for p in self._pending.values() if p.remote_id == remote_id)
        if mine >= (1 if suspect else limits.max_pending_per_peer):
            return self._refuse("this peer already has negotiations under way")
        evict: str | None = None
        if len(self._pending) >= limits.max_pending:
            # Only a newcomer (no slot yet, not suspect) may take someone's slot.
            evict = None if suspect or mine else self._victim(now)
            if evict is None:
                return self._refuse("too many negotiations under way")
        bucket = self._suspect_rate if suspect else self._fresh_rate
        if not bucket.take(now):
            return self._refuse("too many offers")
        if evict is not None:
            self.evicted += 1
            self.finished(evict, opened=False)
        self._pending[connection_id] = _Pending(remote_id, now)
        return Admission(True, evict)

    def finished(self, connection_id: str, *, opened: bool) -> None:
        """A negotiation ended: its channel opened, or it failed, timed out or was dropped."""
        pending = self._pending.pop(connection_id, None)
        if pending is None:
            return
        if opened:
            self._suspects.pop(pending.remote_id, None)
            return
        self._suspects[pending.remote_id] = None
        self._suspects.move_to_end(pending.remote_id)
        while len(self._suspects) > self.limits.remembered_suspects:
            self._suspects.popitem(last=False)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def is_suspect(self, remote_id: str) -> bool:
        return remote_id in self._suspects

    def _victim(self, now: float) -> str | None:
        """The negotiation whose slot a newcomer may take, if any."""
        by_age = sorted(self._pending.items(), key=lambda item: item[1].started)
        for connection_id, pending in by_age:
            if pending.remote_id in self._suspects:
                return connection_id
        counts: dict[str, int] = {}
        for pending in self._pending.values():
            counts[pending.remote_id] = counts.get(pending.remote_id, 0) + 1
        for connection_id, pending in by_age:
            if counts[pending.remote_id] > 1:
                return connection_id
        for connection_id, pending in by_age:
            if now - pending.started >= self.limits.stale_after:
                return connection_id
        return None

    def _refuse(self, reason: str) -> Admission:
        self.refused += 1
        return Admission(False, None, reason)
