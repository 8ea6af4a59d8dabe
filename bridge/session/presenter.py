"""The presenter's side of a Live Session, sans-I/O.

Connections are opaque ids. Every method takes the time (`now`, monotonic seconds, for
deadlines; `now_ms`, epoch milliseconds, for event timestamps) and returns what to do:
`SendTo` a connection, `Disconnect` it, or a `Notice` for the user's screen. Rules follow
Pathfinder 2.16: answer one challenge per connection, add attendees on attendee_join and
answer with session_start, heartbeat every 5 s, close connections that never join. As
Pathfinder keys attendees by peer id, a peer id has one joined connection: a new join from it
replaces the old one. When the transport is full, `room_for` names a connection that may go
(one that never joined, or a silent one); `kick` sends a peer away.

Challenges are where a session can be stolen (a peer holding our id relays its victims' nonces
to us), so they are answered only during a connection's handshake (before attendee_join,
within `ChallengeLimits.window` of the channel opening), a few per remote peer id and per
minute, in the bound form when asked for it (`bridge/protocol/proof.py`), and in upstream's
plain form only for 16-byte nonces.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ProtocolError
from bridge.protocol.crypto import PresenterKey
from bridge.protocol.events import (
    AttendeeJoin,
    AttendeeLeave,
    AttendeeMode,
    AttendeeState,
    AttendeeStatus,
    ChatMessage,
    EventLimits,
    HandRaise,
    Heartbeat,
    ModeChange,
    Navigation,
    PresenterChallenge,
    PresenterResponse,
    SessionConfig,
    SessionEnd,
    SessionEvent,
    SessionStart,
    StepEvent,
    SyncState,
    parse_message,
)
from bridge.protocol.joincode import JoinCode
from bridge.protocol.proof import BOUND_PROOF, ChannelBinding, sign_bound

logger = logging.getLogger("bridge.session")

PRESENTER_SENDER_ID = "presenter"


@dataclass(frozen=True)
class PresenterTimings:
    """Pathfinder's heartbeat every 5 s and 15 s without an echo before an attendee counts as
    disconnected; ours then removes it after a further 30 s (Pathfinder 2.16 keeps a silent
    attendee whose channel is open, and removes one 30 s after its channel closes)."""

    heartbeat_interval: float = 5.0
    join_deadline: float = 30.0
    silence_before_disconnected: float = 15.0
    removal_grace: float = 30.0

    @classmethod
    def for_heartbeat(cls, interval: float) -> PresenterTimings:
        return cls(interval, 30.0, 3 * interval, 6 * interval)


@dataclass(frozen=True)
class ChallengeLimits:
    """How many identity proofs the presenter gives, and when.

    A real attendee (ours or Pathfinder's) challenges once, right after its channel opens; ours
    reconnects with backoff (one challenge per reconnect). So: only before attendee_join and
    within `window` seconds of the channel opening (Pathfinder's attendee gives up after 10 s
    anyway), at most `per_peer_per_minute` for one remote peer id, and `per_minute` plain
    proofs in all. Only plain (Pathfinder's) proofs count towards `per_minute`: a bound proof
    names its own connection, so it is worth nothing to anyone who hoards or relays it, and a
    room of our attendees larger than `per_minute` may join within one minute.
    """

    window: float = 10.0
    per_peer_per_minute: int = 6
    per_minute: int = 120


class AttendeeConnection(enum.StrEnum):
    PENDING = "pending"  # channel open, not joined yet
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # no heartbeat echo for a while


@dataclass
class Attendee:
    conn: str
    peer_id: str
    opened_at: float
    binding: ChannelBinding | None = None
    name: str = ""
    mode: AttendeeMode = AttendeeMode.GUIDED
    joined_at_ms: int | None = None
    state: AttendeeConnection = AttendeeConnection.PENDING
    challenged: bool = False
    latency_ms: float | None = None
    last_seen: float = 0.0
    hand_raised: bool = False
    last_result: str = ""

    @property
    def quality(self) -> str:
        """Pathfinder's thresholds: < 100 ms excellent, < 300 ms good, else poor."""
        if self.latency_ms is None:
            return "unknown"
        if self.latency_ms < 100:
            return "excellent"
        return "good" if self.latency_ms < 300 else "poor"

    @property
    def label(self) -> str:
        return self.name or self.peer_id


@dataclass(frozen=True)
class SendTo:
    conn: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Disconnect:
    conn: str
    reason: str


class NoticeKind(enum.StrEnum):
    JOINED = "joined"
    LEFT = "left"
    MODE_CHANGED = "mode_changed"
    STATUS = "status"
    HAND_RAISED = "hand_raised"
    CHAT = "chat"
    REJECTED = "rejected"
    LOST = "lost"


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    attendee: Attendee
    detail: str = ""
    #: For STATUS: the attendee's report itself (a recording keeps its fields).
    status: AttendeeStatus | None = None


Output = SendTo | Disconnect | Notice


@dataclass(frozen=True)
class Kick:
    """What `kick` did: the peer id it sent away (refused from now on) and what to do, or
    nothing and the attendees (one per peer id) that the name matches when it is ambiguous."""

    outputs: tuple[Output, ...] = ()
    sent_away: frozenset[str] = frozenset()
    ambiguous: tuple[Attendee, ...] = ()
    #: Attendees who took the kicked peer id as their name, and stay (a peer id comes first).
    shadowed: tuple[Attendee, ...] = ()


@dataclass
class PresenterSession:
    session_id: str
    name: str
    tutorial_url: str
    key: PresenterKey
    default_mode: AttendeeMode = AttendeeMode.GUIDED
    timings: PresenterTimings = field(default_factory=PresenterTimings)
    limits: EventLimits = field(default_factory=EventLimits)
    challenge_limits: ChallengeLimits = field(default_factory=ChallengeLimits)
    attendees: dict[str, Attendee] = field(default_factory=dict)
    step_number: int = 0
    ended: bool = False
    seq: int = 0
    last_step: StepEvent | None = None
    #: Challenges refused by the limits (not answered), for tests and the curious.
    challenges_refused: int = 0
    _next_heartbeat: float = 0.0
    #: (time, remote peer id, plain proof) of every proof given in the last minute.
    _answered: deque[tuple[float, str, bool]] = field(default_factory=deque)

    @property
    def join_code(self) -> JoinCode:
        return JoinCode(
            self.session_id, self.name, self.tutorial_url, self.key.public_key, BOUND_PROOF
        )

    @property
    def joined(self) -> list[Attendee]:
        return [a for a in self.attendees.values() if a.joined_at_ms is not None]

    # -- connections ----------

    def connection_opened(
        self, conn: str, peer_id: str, now: float, binding: ChannelBinding | None = None
    ) -> list[Output]:
        """A data connection from `peer_id` (the id the signaling server vouches for) opened;
        `binding` names it for the bound proof."""
        self.attendees[conn] = Attendee(conn, peer_id, now, binding, last_seen=now)
        logger.debug("[SessionManager] Connection from %s (%s)", peer_id, conn)
        return []

    def connection_closed(self, conn: str) -> list[Output]:
        attendee = self.attendees.pop(conn, None)
        if attendee is None or attendee.joined_at_ms is None:
            return []
        logger.info("[SessionManager] Attendee %s disconnected", attendee.label)
        return [Notice(NoticeKind.LEFT, attendee, "connection closed")]

    # -- incoming ----------

    def message_received(self, conn: str, data: Any, now: float, now_ms: int) -> list[Output]:
        attendee = self.attendees.get(conn)
        if attendee is None:
            return []
        try:
            message = parse_message(data, self.limits)
        except ProtocolError as exc:
            logger.warning("[SessionManager] Rejected a message from %s: %s", attendee.label, exc)
            return [Notice(NoticeKind.REJECTED, attendee, str(exc))]
        attendee.last_seen = now
        if attendee.state is AttendeeConnection.DISCONNECTED:
            attendee.state = AttendeeConnection.CONNECTED
        if isinstance(message, PresenterChallenge):
            return self._answer_challenge(attendee, message, now)
        if isinstance(message, PresenterResponse):
            return []
        if isinstance(message, AttendeeJoin):
            return self._join(attendee, message, now_ms)
        if attendee.joined_at_ms is None:
            logger.debug("[SessionManager] Ignored %s before attendee_join", message.TYPE)
            return []
        return self._attendee_event(attendee, message, now_ms)

    def _answer_challenge(
        self, attendee: Attendee, challenge: PresenterChallenge, now: float
    ) -> list[Output]:
        if attendee.challenged or not challenge.nonce:
            return []  # one answer per connection, as Pathfinder
        attendee.challenged = True  # spent, answered or not
        refusal = self._challenge_refusal(attendee, now, bound=challenge.proof == BOUND_PROOF)
        if refusal:
            self.challenges_refused += 1
            logger.warning(
                "[SessionManager] Ignored a challenge from %s: %s", attendee.peer_id, refusal
            )
            return []
        try:
            if challenge.proof == BOUND_PROOF:
                if attendee.binding is None:
                    raise ProtocolError("this connection cannot be named for a bound proof")
                signature = sign_bound(self.key, challenge.nonce, attendee.binding)
            elif challenge.proof is None:
                signature = self.key.sign(challenge.nonce)
            else:
                raise ProtocolError(f"unknown proof {challenge.proof[:32]!r}")
        except ProtocolError as exc:
            # Upstream's atob throws inside its handler: no answer, and the one challenge
            # of this connection is spent.
            logger.warning("[SessionManager] Ignored a challenge from %s: %s", attendee.label, exc)
            return []
        self._answered.append((now, attendee.peer_id, challenge.proof is None))
        response = PresenterResponse(challenge.nonce, signature, challenge.proof)
        return [SendTo(attendee.conn, response.to_wire())]

    def _challenge_refusal(self, attendee: Attendee, now: float, *, bound: bool) -> str:
        """Why a challenge is not answered ('' when it is)."""
        limits = self.challenge_limits
        if attendee.joined_at_ms is not None:
            return "challenged after joining"
        if now - attendee.opened_at > limits.window:
            return f"challenged more than {limits.window:g} s after connecting"
        while self._answered and now - self._answered[0][0] >= 60.0:
            self._answered.popleft()
        if not bound and sum(plain for _, _, plain in self._answered) >= limits.per_minute:
            return f"more than {limits.per_minute} plain challenges in a minute"
        same_peer = sum(1 for _, peer, _ in self._answered if peer == attendee.peer_id)
        if same_peer >= limits.per_peer_per_minute:
            return f"more than {limits.per_peer_per_minute} challenges in a minute from this peer"
        return ""

    def _join(self, attendee: Attendee, join: AttendeeJoin, now_ms: int) -> list[Output]:
        if attendee.joined_at_ms is not None:
            # As Pathfinder: one attendee_join per connection; a repeat is ignored (it would
            # rename the attendee). A rejoin comes on a new connection.
            logger.debug("[SessionManager] Ignored a repeated attendee_join")
            return []
        outputs: list[Output] = []
        for other in self.joined:
            if other.peer_id == attendee.peer_id and other.conn != attendee.conn:
                # One joined connection per peer id (Pathfinder keys attendees by it): a
                # rejoin replaces the old connection, and a peer cannot hold many places.
                del self.attendees[other.conn]
                outputs.append(Notice(NoticeKind.LEFT, other, "replaced by a new connection"))
                outputs.append(Disconnect(other.conn, "replaced by a new connection"))
        attendee.name, attendee.mode = join.name, join.mode
        attendee.state = AttendeeConnection.CONNECTED
        attendee.joined_at_ms = now_ms
        logger.info("[SessionManager] Attendee joined: %s (%s)", attendee.label, attendee.mode)
        start = SessionStart(
            config=SessionConfig(self.name, self.tutorial_url, self.default_mode),
            **self._base(now_ms),
        )
        outputs.append(SendTo(attendee.conn, start.to_wire()))
        if self.step_number or self.tutorial_url or self.last_step:
            # A late joiner, or a rejoin, gets the current guide, step, mode and the last
            # highlight at once; the attendee skips what it has already replayed (seq).
            sync = SyncState(
                tutorialUrl=self.tutorial_url,
                stepNumber=self.step_number,
                mode=self.default_mode,
                lastEvent=self.last_step,
                **self._base(now_ms),
            )
            outputs.append(SendTo(attendee.conn, sync.to_wire()))
        outputs.append(Notice(NoticeKind.JOINED, attendee, attendee.mode.value))
        return outputs

    def _attendee_event(self, attendee: Attendee, event: SessionEvent, now_ms: int) -> list[Output]:
        if isinstance(event, Heartbeat):
            attendee.latency_ms = max(0.0, now_ms - event.sentAt)
            return []
        if isinstance(event, ModeChange):
            attendee.mode = event.mode
            return [Notice(NoticeKind.MODE_CHANGED, attendee, event.mode.value)]
        if isinstance(event, HandRaise):
            attendee.hand_raised = event.isRaised
            return [
                Notice(NoticeKind.HAND_RAISED, attendee, "raised" if event.isRaised else "lowered")
            ]
        if isinstance(event, AttendeeStatus):
            step = f" (step {event.currentStep})" if event.currentStep else ""
            if event.status is AttendeeState.ERROR:
                detail = f"failed: {event.error or 'unknown error'}{step}"
            elif event.status is AttendeeState.JOINED and event.currentStep:
                detail = f"ok{step}"
            else:
                detail = f"{event.status.value}{step}"
            attendee.last_result = detail
            return [Notice(NoticeKind.STATUS, attendee, detail, event)]
        if isinstance(event, ChatMessage):
            return [Notice(NoticeKind.CHAT, attendee, event.message)]
        if isinstance(event, AttendeeLeave):
            self.attendees.pop(attendee.conn, None)
            return [Notice(NoticeKind.LEFT, attendee, "left"), Disconnect(attendee.conn, "left")]
        logger.debug("[SessionManager] Ignored %s from an attendee", event.TYPE)
        return []

    # -- room and removal ----------

    def room_for(self, peer_id: str, now: float) -> str | None:
        """The connection that may go so that a new one from `peer_id` fits, when every
        place is taken: one `peer_id` holds itself (its new join would replace it anyway: an
        attendee reconnecting after a network blip while its old connection still looks
        live), else an extra connection of a peer that never joined on it, else one that
        has not joined within the handshake window, else the longest-silent attendee that
        stopped answering heartbeats. None: every place is a live attendee's."""
        own = [a for a in self.attendees.values() if a.peer_id == peer_id]
        if own:
            # Its unjoined connections first (oldest first), then its joined one.
            return min(own, key=lambda a: (a.joined_at_ms is not None, a.opened_at)).conn
        pending = [a for a in self.attendees.values() if a.joined_at_ms is None]
        by_peer: dict[str, int] = {}
        for attendee in self.attendees.values():
            by_peer[attendee.peer_id] = by_peer.get(attendee.peer_id, 0) + 1
        extra = [a for a in pending if by_peer[a.peer_id] > 1]
        if extra:
            return min(extra, key=lambda a: a.opened_at).conn
        window = self.challenge_limits.window
        stale = [a for a in pending if now - a.opened_at >= window]
        if stale:
            return min(stale, key=lambda a: a.opened_at).conn
        silent = [a for a in self.joined if a.state is AttendeeConnection.DISCONNECTED]
        if silent:
            return min(silent, key=lambda a: a.last_seen).conn
        return None

    def kick(self, who: str) -> Kick:
        """Send away the one peer that `who` names: its peer id, else the name it joined with.
        A peer id is set by the signaling server, a name is the peer's own choice: a peer id
        always wins (two peers that took each other's ids as names must stay kickable), and
        when a name is shared nobody is sent away and the matches are returned, to be told
        apart by peer id."""
        by_id = {a.peer_id for a in self.attendees.values() if a.peer_id == who}
        named = by_id or {a.peer_id for a in self.attendees.values() if a.name == who}
        if len(named) > 1:
            # One per peer id, its joined connection when it has one (sorted last, kept).
            by_joined = sorted(self.attendees.values(), key=lambda a: a.joined_at_ms is not None)
            one_each = {a.peer_id: a for a in by_joined if a.peer_id in named}
            return Kick(ambiguous=tuple(sorted(one_each.values(), key=lambda a: a.peer_id)))
        doomed = [a for a in self.attendees.values() if a.peer_id in named]
        outputs: list[Output] = []
        for attendee in doomed:
            del self.attendees[attendee.conn]
            if attendee.joined_at_ms is not None:
                outputs.append(Notice(NoticeKind.LEFT, attendee, "sent away by the presenter"))
            outputs.append(Disconnect(attendee.conn, "sent away by the presenter"))
        shadowed = {a.peer_id: a for a in self.attendees.values() if by_id and a.name == who}
        return Kick(
            outputs=tuple(outputs),
            sent_away=frozenset(named),
            shadowed=tuple(shadowed[p] for p in sorted(shadowed)),
        )

    def capacity(self) -> tuple[int, int, int]:
        """Connections, joined attendees, and distinct peer ids among the joined."""
        joined = self.joined
        return len(self.attendees), len(joined), len({a.peer_id for a in joined})

    # -- outgoing ----------

    def _base(self, now_ms: int) -> dict[str, Any]:
        return {"sessionId": self.session_id, "timestamp": now_ms, "senderId": PRESENTER_SENDER_ID}

    def stamp(self, event: SessionEvent, now_ms: int) -> SessionEvent:
        """The event with this session's base fields filled in."""
        return dataclasses.replace(event, **self._base(now_ms))

    def broadcast(self, event: SessionEvent, now_ms: int) -> list[Output]:
        """Send one event to every joined attendee; remember what a late joiner needs."""
        self.seq += 1
        stamped = dataclasses.replace(self.stamp(event, now_ms), seq=self.seq)
        if isinstance(stamped, Navigation):
            self.tutorial_url = stamped.tutorialUrl
            self.step_number = stamped.stepNumber or 0
        elif isinstance(stamped, SyncState):
            self.tutorial_url, self.step_number = stamped.tutorialUrl, stamped.stepNumber
        if isinstance(stamped, StepEvent):
            self.last_step = stamped
            logger.info(
                "[ActionCapture] Broadcasted %s event for step: %s", stamped.TYPE, stamped.stepId
            )
        wire = stamped.to_wire()
        return [SendTo(a.conn, wire) for a in self.joined]

    def end(self, now_ms: int, reason: str | None = None) -> list[Output]:
        self.ended = True
        message = SessionEnd(reason=reason, **self._base(now_ms)).to_wire()
        outputs: list[Output] = [SendTo(a.conn, message) for a in self.joined]
        return outputs

    def tick(self, now: float, now_ms: int) -> list[Output]:
        outputs: list[Output] = []
        for attendee in list(self.attendees.values()):
            if attendee.joined_at_ms is None:
                if now - attendee.opened_at >= self.timings.join_deadline:
                    del self.attendees[attendee.conn]
                    outputs.append(Disconnect(attendee.conn, "did not join in time"))
            elif (
                attendee.state is AttendeeConnection.CONNECTED
                and now - attendee.last_seen >= self.timings.silence_before_disconnected
            ):
                attendee.state = AttendeeConnection.DISCONNECTED
                outputs.append(Notice(NoticeKind.LOST, attendee, "no heartbeat"))
            elif attendee.state is AttendeeConnection.DISCONNECTED and (
                now - attendee.last_seen
                >= self.timings.silence_before_disconnected + self.timings.removal_grace
            ):
                del self.attendees[attendee.conn]
                outputs.append(Notice(NoticeKind.LEFT, attendee, "gone silent"))
                outputs.append(Disconnect(attendee.conn, "silent for too long"))
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.timings.heartbeat_interval
            beat = Heartbeat(sentAt=now_ms, **self._base(now_ms)).to_wire()
            outputs.extend(SendTo(a.conn, beat) for a in self.joined)
        return outputs
