"""The attendee's side of a Live Session, sans-I/O.

The presenter is verified before anything else: the attendee sends a challenge, checks the
signature against the join code's public key, and drops every other message until then. With
a code from our presenter (`proof: bound-v1`) it asks for, and accepts only, the proof bound to
this connection (`bridge/protocol/proof.py`), so a peer that took the presenter's id cannot
relay the real presenter's answer; with Pathfinder's codes it accepts upstream's plain proof.
Only then does it join and pass the presenter's events on (`Deliver`). Everything the
session decides comes back as outputs: `Send`, `Deliver`, `Rejected`, `Failed`, `Ended`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ProtocolError
from bridge.protocol.crypto import new_nonce, verify
from bridge.protocol.events import (
    AttendeeJoin,
    AttendeeLeave,
    AttendeeMode,
    AttendeeState,
    AttendeeStatus,
    End,
    EventLimits,
    HandRaise,
    Heartbeat,
    ModeChange,
    PresenterChallenge,
    PresenterResponse,
    SessionConfig,
    SessionEnd,
    SessionEvent,
    SessionStart,
    ShowMe,
    StepEvent,
    SyncState,
    parse_message,
)
from bridge.protocol.joincode import JoinCode
from bridge.protocol.proof import BOUND_PROOF, ChannelBinding, verify_bound

logger = logging.getLogger("bridge.session")

ATTENDEE_SENDER_ID = "attendee"
DUPLICATE_WINDOW_MS = 500


class AttendeePhase(enum.Enum):
    CONNECTING = "connecting"
    VERIFYING = "verifying"
    JOINING = "joining"
    ACTIVE = "active"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True)
class AttendeeTimings:
    challenge_timeout: float = 10.0
    session_start_wait: float = 5.0
    #: No message (not even a heartbeat) from the presenter for this long: the link is dead
    #: even if the data channel has not noticed yet (a crashed presenter sends no goodbye).
    presenter_silence: float = 15.0


@dataclass(frozen=True)
class Send:
    message: dict[str, Any]


@dataclass(frozen=True)
class Deliver:
    event: SessionEvent


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Ended:
    reason: str


@dataclass(frozen=True)
class Lost:
    """The presenter went silent: reconnect."""

    reason: str


Output = Send | Deliver | Rejected | Failed | Ended | Lost


@dataclass
class AttendeeSession:
    code: JoinCode
    name: str = "Anonymous"
    mode: AttendeeMode = AttendeeMode.GUIDED
    timings: AttendeeTimings = field(default_factory=AttendeeTimings)
    limits: EventLimits = field(default_factory=EventLimits)
    make_nonce: Callable[[], str] = new_nonce
    phase: AttendeePhase = AttendeePhase.CONNECTING
    config: SessionConfig | None = None
    dropped_before_verification: int = 0
    #: The presenter answered the identity check wrongly: an impostor, never to be retried.
    #: (No answer at all is not proof of anything: a busy presenter may refuse to answer.)
    impostor: bool = False
    duplicates_dropped: int = 0
    #: The presenter's sequence number of the last event passed on; carried over a rejoin.
    last_seq: int = 0
    #: When attendee_join went out and the last heartbeat came in (its sentAt, our epoch ms):
    #: what `swarm` estimates the presenter's clock from (session_start answers the join).
    join_sent_ms: int = 0
    last_heartbeat: tuple[float, int] | None = None
    _nonce: str = ""
    _binding: ChannelBinding | None = None
    _last_heard: float = 0.0
    _last_step: tuple[str, str, int] | None = None
    _deadline: float = 0.0

    def _set_phase(self, phase: AttendeePhase) -> None:
        if phase is not self.phase:
            logger.debug("[SessionManager] Attendee: %s -> %s", self.phase.name, phase.name)
            self.phase = phase

    @property
    def verified(self) -> bool:
        return self.phase in (AttendeePhase.JOINING, AttendeePhase.ACTIVE, AttendeePhase.ENDED)

    # -- lifecycle ----------

    def channel_opened(
        self, now: float, now_ms: int, binding: ChannelBinding | None = None
    ) -> list[Output]:
        """The data connection to the presenter is open; `binding` names it as this side sees
        it (our peer id, the code's id, both DTLS fingerprints), for the bound proof."""
        if self.code.is_legacy:
            # A bare 6-character code has no key to verify the presenter against. Pathfinder
            # 2.3.6+ refuses it too ("the legacy unauthenticated join path has been removed":
            # its verifyChallenge fails without a key).
            self._set_phase(AttendeePhase.FAILED)
            return [
                Failed(
                    "this join code is a bare session id without the presenter's key, so the "
                    "presenter cannot be verified; ask for the whole join code or join URL"
                )
            ]
        if self.code.proof not in ("", BOUND_PROOF):
            self._set_phase(AttendeePhase.FAILED)
            return [
                Failed(
                    f"the join code asks for a presenter proof this version does not know "
                    f"({self.code.proof[:32]!r}); update pathfinder-bridge"
                )
            ]
        if self.code.proof == BOUND_PROOF and (binding is None or not binding.complete):
            self._set_phase(AttendeePhase.FAILED)
            return [
                Failed("this connection cannot be identified, so the presenter cannot be verified")
            ]
        self._binding = binding if self.code.proof == BOUND_PROOF else None
        self._nonce = self.make_nonce()
        self._deadline = now + self.timings.challenge_timeout
        self._set_phase(AttendeePhase.VERIFYING)
        proof = BOUND_PROOF if self._binding is not None else None
        return [Send(PresenterChallenge(self._nonce, proof).to_wire())]

    def _send_join(self, now: float, now_ms: int) -> list[Output]:
        self._set_phase(AttendeePhase.JOINING)
        self._deadline = now + self.timings.session_start_wait
        self.join_sent_ms = now_ms
        join = AttendeeJoin(
            lastSeq=self.last_seq or None,
            name=self.name,
            mode=self.mode,
            timestamp=now_ms,
            sessionId=self.code.id,
            senderId=ATTENDEE_SENDER_ID,
        )
        return [Send(join.to_wire())]

    def tick(self, now: float, now_ms: int) -> list[Output]:
        if self.phase is AttendeePhase.VERIFYING and now >= self._deadline:
            self._set_phase(AttendeePhase.FAILED)
            return [
                Failed(
                    "the presenter did not answer the identity check within "
                    f"{self.timings.challenge_timeout:.0f} s"
                )
            ]
        if (
            self.phase is AttendeePhase.ACTIVE
            and self._last_heard
            and (now - self._last_heard >= self.timings.presenter_silence)
        ):
            self._last_heard = now
            return [Lost(f"nothing from the presenter for {self.timings.presenter_silence:g} s")]
        if self.phase is AttendeePhase.JOINING and now >= self._deadline:
            # Pathfinder waits 5 s for session_start, then goes on with the code's guide.
            self._set_phase(AttendeePhase.ACTIVE)
            self.config = SessionConfig(self.code.name, self.code.url)
        return []

    # -- incoming ----------

    def message_received(self, data: Any, now: float, now_ms: int) -> list[Output]:
        if self.phase in (AttendeePhase.FAILED, AttendeePhase.ENDED):
            return []
        self._last_heard = now
        try:
            message = parse_message(data, self.limits)
        except ProtocolError as exc:
            logger.warning("[SessionManager] Rejected a message: %s", exc)
            return [Rejected(str(exc))]
        if self.phase is AttendeePhase.VERIFYING:
            if not isinstance(message, PresenterResponse):
                self.dropped_before_verification += 1
                return [Rejected(f"{message.TYPE} before the presenter was verified")]
            return self._check_response(message, now, now_ms)
        if isinstance(message, PresenterChallenge | PresenterResponse):
            return []
        if message.sessionId and message.sessionId != self.code.id:
            return [Rejected(f"{message.TYPE} for another session ({message.sessionId[:12]})")]
        return self._session_event(message, now_ms)

    def _check_response(self, response: PresenterResponse, now: float, now_ms: int) -> list[Output]:
        if self._binding is not None:
            valid = verify_bound(self.code.pubkey, self._nonce, self._binding, response.signature)
        else:
            valid = verify(self.code.pubkey, self._nonce, response.signature)
        if response.nonce == self._nonce and valid:
            logger.info("[SessionManager] Presenter verified")
            return self._send_join(now, now_ms)
        self.impostor = True
        self._set_phase(AttendeePhase.FAILED)
        return [
            Failed(
                "the presenter failed the identity check: this is not the session the "
                "join code describes. Ask the presenter for a fresh join code"
            )
        ]

    def _session_event(self, event: SessionEvent, now_ms: int) -> list[Output]:
        if isinstance(event, Heartbeat):
            self.last_heartbeat = (event.sentAt, now_ms)
            echo = Heartbeat(
                sentAt=event.sentAt,
                sessionId=self.code.id,
                timestamp=now_ms,
                senderId=ATTENDEE_SENDER_ID,
            )
            return [Send(echo.to_wire())]
        if isinstance(event, SessionStart):
            self.config = event.config
            self._set_phase(AttendeePhase.ACTIVE)
            return [Deliver(event)]
        if isinstance(event, SessionEnd | End):
            self._set_phase(AttendeePhase.ENDED)
            reason = (event.reason if isinstance(event, SessionEnd) else event.message) or ""
            return [Deliver(event), Ended(reason or "the presenter ended the session")]
        if isinstance(event, AttendeeJoin | AttendeeLeave | AttendeeStatus | HandRaise):
            return []  # attendee-to-presenter messages have no business here
        if event.seq is not None:
            if event.seq <= self.last_seq:
                self.duplicates_dropped += 1  # already replayed before a reconnect
                return []
            self.last_seq = event.seq
        if isinstance(event, SyncState):
            return self._sync(event)
        if isinstance(event, StepEvent):
            # As Pathfinder (action-replay.ts): a repeat of the same type and step whose
            # timestamp is within 500 ms of the last one, before or after, is one click.
            key = (event.TYPE, event.stepId, event.timestamp)
            last = self._last_step
            if last and last[:2] == key[:2] and abs(key[2] - last[2]) < DUPLICATE_WINDOW_MS:
                self.duplicates_dropped += 1
                return []
            self._last_step = key
        return [Deliver(event)]

    def _sync(self, sync: SyncState) -> list[Output]:
        """State after a (re)join: the guide and step, and the last highlight if it is new."""
        outputs: list[Output] = [Deliver(sync)]
        last = sync.lastEvent
        if last is not None and (last.seq or 0) > self.last_seq:
            self.last_seq = last.seq or 0
            # The current highlight is state: show it. A missed do_it is history: never
            # performed late, so nothing happens twice or out of order.
            if isinstance(last, ShowMe):
                outputs.append(Deliver(last))
        return outputs

    # -- outgoing ----------

    def _base(self, now_ms: int) -> dict[str, Any]:
        return {"sessionId": self.code.id, "timestamp": now_ms, "senderId": ATTENDEE_SENDER_ID}

    def change_mode(self, mode: AttendeeMode, now_ms: int) -> list[Output]:
        self.mode = mode
        return [Send(ModeChange(mode=mode, **self._base(now_ms)).to_wire())]

    def raise_hand(self, raised: bool, now_ms: int) -> list[Output]:
        event = HandRaise(attendeeName=self.name, isRaised=raised, **self._base(now_ms))
        return [Send(event.to_wire())]

    def report(
        self,
        status: AttendeeState,
        now_ms: int,
        *,
        step: str | None = None,
        error: str | None = None,
    ) -> list[Output]:
        event = AttendeeStatus(
            status=status, currentStep=step, mode=self.mode, error=error, **self._base(now_ms)
        )
        return [Send(event.to_wire())]

    def leave(self, now_ms: int) -> list[Output]:
        self._set_phase(AttendeePhase.ENDED)
        return [Send(AttendeeLeave(**self._base(now_ms)).to_wire())]
