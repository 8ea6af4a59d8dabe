"""This server as one instance of a cluster: the realm's shared state in Redis (I/O).

Client: redis-py's asyncio API (`redis.asyncio`, with hiredis when installed). Every call to
Redis goes through one writer task, in order, as pipelines of the Lua scripts in
`cluster_scripts.py` (one round trip carries whatever piled up meanwhile), so messages from
one sender reach Redis, and from there the other instance, in the order they were sent.
Nothing is retried: a call whose answer was lost is reported as failed (its sender hears
EXPIRE), so no message is ever delivered twice. Instances hear each other on Pub/Sub: a
`PUBLISH` that reaches nobody (the holder's instance is gone) queues the message instead.

Tasks, all owned here and cancelled by `close()`: the writer, the supervisor (which
reconnects with backoff and owns the subscriber), the renewer of this instance's leases, and
the sweeper of expired queues. While Redis is away, peers on this instance keep relaying to
each other; messages for other instances answer EXPIRE; new registrations are refused with
an ERROR; once Redis is back, every peer here is registered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bridge.backoff import backoff
from bridge.config import ServerConfig
from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.peerjs import UNQUEUED_TYPES, MessageType, ServerMessage
from bridge.signaling.cluster_scripts import SCRIPTS
from bridge.signaling.cluster_state import (
    ClusterFigures,
    ClusterMetrics,
    Delivery,
    Release,
    SharedReservations,
    claim_outcome,
    figures,
    parse_envelope,
    route_result,
)
from bridge.signaling.realm import QUEUED_OVERHEAD, Action, Forward, Realm, RouteResult
from bridge.signaling.reservations import SALT_BYTES, Claim, ClaimOutcome, ClaimResult

logger = logging.getLogger("bridge.signaling")

#: Ids renewed per script call (each is two arguments).
RENEW_CHUNK = 500
#: Expired queues popped per sweep.
SWEEP_LIMIT = 200
#: Calls in one pipeline; a backlog goes in several, in order.
MAX_BATCH = 1000
#: Seconds between two readings of the realm-wide figures: at least, and at most.
FIGURES_INTERVAL = 0.25
FIGURES_EVERY = 1.0
#: What a lost connection to Redis raises.
REDIS_FAILURES = (TimeoutError, OSError, RedisError)


class ClusterUnavailableError(BridgeError):
    """Redis cannot be reached when the server starts."""


#: A round trip slower than this is logged (at most once per SLOW_LOG_EVERY seconds).
SLOW_ROUND_TRIP = 0.1
SLOW_LOG_EVERY = 10.0


@dataclass
class _Call:
    script: str
    args: list[str | int]
    done: Callable[[Any], None]
    failed: Callable[[], None]


@dataclass
class _Pending:
    calls: list[_Call] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class Cluster:
    """One instance's membership of a realm shared through Redis."""

    def __init__(
        self,
        config: ServerConfig,
        realm: Realm,
        store: SharedReservations,
        *,
        name: str,
        perform: Callable[[list[Action]], None],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.realm = realm
        self.store = store
        self.name = name
        self.incarnation = store.incarnation
        self.metrics = ClusterMetrics()
        self._perform = perform
        self._clock = clock
        self._prefix = f"pfb:{config.key}:"
        self._channel = f"{self._prefix}ch:{self.incarnation}"
        self._redis: Redis | None = None
        self._shas: dict[str, str] = {}
        self._pending = _Pending()
        self._back = asyncio.Event()
        self._gone = asyncio.Event()
        #: Peers of this instance being registered again (Redis came back, or forgot them),
        #: with what other instances routed to them meanwhile: held until the messages queued
        #: for them while Redis did not know them are delivered, so that a sender's messages
        #: arrive in the order it sent them.
        self._reclaiming: dict[str, list[Delivery]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriber: asyncio.Task[None] | None = None
        lease = config.alive_timeout + config.reservation_grace
        self._lease_ms = max(1, round(lease * 1000))
        self._instance_ttl_ms = max(1, round(config.alive_timeout * 1000))
        self._renew_every = min(5.0, config.alive_timeout / 3)
        #: Every id held in the realm, for `/peers` (read when discovery is on).
        self.peer_list: list[str] = []
        self._stats_due = asyncio.Event()
        self._slow_logged = -SLOW_LOG_EVERY

    @staticmethod
    def new_incarnation(name: str) -> str:
        """This run of this instance: its name and a random part, so that a restarted
        instance never inherits the sockets of a dead one."""
        return f"{name}~{secrets.token_hex(4)}"

    @staticmethod
    def default_name(port: int) -> str:
        return f"{socket.gethostname()}:{port}"

    # -- lifecycle ----------

    async def start(self) -> None:
        """Connect, agree on the realm's salt and subscribe; raise ClusterUnavailableError
        with what to do when Redis cannot be reached."""
        self._redis = Redis.from_url(
            self.config.redis_url,
            socket_timeout=self.config.redis_timeout,
            socket_connect_timeout=self.config.redis_timeout,
            # Never retried: a retried script may have run already (a message twice).
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        try:
            await self._connect()
        except (TimeoutError, OSError, RedisError, ProtocolError) as exc:
            await self._redis.aclose()
            raise ClusterUnavailableError(
                f"cannot reach Redis at {redact(self.config.redis_url)} ({describe(exc)}): "
                "is redis-server running there? (--redis URL, or server.redis_url)"
            ) from None
        self.metrics.up = True
        self._back.set()
        logger.info(
            "[Cluster] Instance %s joined the realm on Redis %s",
            self.name,
            redact(self.config.redis_url),
        )
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="cluster-writer"),
            asyncio.create_task(self._supervise(), name="cluster-supervisor"),
            asyncio.create_task(self._renew_forever(), name="cluster-renewer"),
            asyncio.create_task(self._sweep_forever(), name="cluster-sweeper"),
            asyncio.create_task(self._read_figures_forever(), name="cluster-figures"),
        ]

    def _client(self) -> Redis:
        assert self._redis is not None, "start() first"
        return self._redis

    async def _connect(self) -> None:
        """Scripts, salt and subscription: what an instance needs before it serves."""
        redis = self._client()
        salt_key = self._prefix + "salt"
        async with asyncio.timeout(self.config.redis_timeout * 2):
            for name, source in SCRIPTS.items():
                self._shas[name] = await redis.script_load(source)
            await redis.set(salt_key, self.store.salt.hex(), nx=True)
            stored = await redis.get(salt_key)
        text = stored.decode() if isinstance(stored, bytes) else stored
        try:
            salt = bytes.fromhex(text) if text else b""
        except ValueError:
            salt = b""
        if len(salt) != SALT_BYTES:
            raise ProtocolError(f"{salt_key} in Redis is not a salt of pathfinder-bridge")
        if salt != self.store.salt:
            if self.realm.peer_count:
                # Redis lost the realm (and its salt) and another instance made a new one:
                # tokens of peers here cannot be checked against it. They reconnect.
                logger.warning(
                    "[Cluster] Redis holds a new realm salt: asking the %d peers here to reconnect",
                    self.realm.peer_count,
                )
                actions: list[Action] = []
                now = self._clock()
                for claim in self.realm.registrations():
                    actions.extend(self.realm.moved(claim.id, claim.conn, now))
                self._perform(actions)
            self.store.salt = salt
        await self._subscribe()
        # Announced at once (not at the first renewal): other instances count this one.
        async with asyncio.timeout(self.config.redis_timeout):
            answer = await redis.evalsha(
                self._shas["refresh"],
                0,
                self._prefix,
                self.incarnation,
                self.name,
                self._lease_ms,
                self._instance_ttl_ms,
                self.realm.peer_count,
            )
        self.store.figures, _ = figures(answer)

    async def _subscribe(self) -> None:
        if self._subscriber is not None:
            self._subscriber.cancel()
            await asyncio.gather(self._subscriber, return_exceptions=True)
        pubsub = self._client().pubsub(ignore_subscribe_messages=True)
        async with asyncio.timeout(self.config.redis_timeout):
            await pubsub.subscribe(self._channel)
        self._subscriber = asyncio.create_task(self._listen(pubsub), name="cluster-subscriber")

    async def close(self) -> None:
        """Write what the realm left (its peers' releases), then stop everything."""
        if self.metrics.up and (self.store.outbox or self._pending.calls):
            try:
                async with asyncio.timeout(self.config.redis_timeout):
                    await self._flush_now()
            except REDIS_FAILURES:
                pass
        for task in [*self._tasks, self._subscriber]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [*self._tasks, self._subscriber] if t is not None),
            return_exceptions=True,
        )
        self._tasks, self._subscriber = [], None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # -- what the server asks ----------

    async def claim(self, claim: Claim) -> ClaimOutcome:
        """Put `claim` to Redis; UNAVAILABLE when it cannot be asked now."""
        if not self.metrics.up:
            return ClaimOutcome(ClaimResult.UNAVAILABLE)
        future: asyncio.Future[ClaimOutcome] = asyncio.get_running_loop().create_future()
        limits = self.config.limits

        def done(answer: Any) -> None:
            outcome, _previous = claim_outcome(answer)
            self._stats_due.set()
            if not future.done():
                future.set_result(outcome)

        def failed() -> None:
            if not future.done():
                future.set_result(ClaimOutcome(ClaimResult.UNAVAILABLE))

        self._call(
            "claim",
            [
                claim.id,
                claim.token_digest,
                claim.ip,
                self.store.owner(claim.conn),
                self._lease_ms,
                limits.max_reservations,
                limits.max_reservations_per_ip,
                self.incarnation,
                1 if claim.paced else 0,
            ],
            done,
            failed,
        )
        try:
            async with asyncio.timeout(self.config.redis_timeout * 2):
                return await future
        except TimeoutError:
            return ClaimOutcome(ClaimResult.UNAVAILABLE)

    def forward(self, action: Forward) -> None:
        """Route a message to wherever its destination is (or queue it); its outcome goes
        back to the realm."""
        message = action.message
        if not self.metrics.up:
            self._perform(self.realm.forwarded(message, RouteResult.UNAVAILABLE))
            return
        assert message.src is not None and message.dst is not None

        def done(answer: Any) -> None:
            result = route_result(answer)
            if result is RouteResult.DELIVERED:
                self.metrics.sent += 1
            elif result is RouteResult.QUEUED:
                self._stats_due.set()
            self._perform(self.realm.forwarded(message, result))

        def failed() -> None:
            self._perform(self.realm.forwarded(message, RouteResult.UNAVAILABLE))

        self._call(
            "route",
            [
                message.dst,
                message.type.value,
                message.src,
                action.frame,
                "1" if message.type in UNQUEUED_TYPES else "0",
            ],
            done,
            failed,
        )

    def changed(self) -> None:
        """The realm may have left releases in the store's outbox."""
        if self.store.outbox:
            self._pending.ready.set()
            self._stats_due.set()

    async def _read_figures_forever(self) -> None:
        """Realm-wide figures (and the peer list, with discovery on): `/metrics` and `/peers`
        answer from them at once. Read every FIGURES_EVERY, and soon after a change here (at
        most every FIGURES_INTERVAL)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIGURES_EVERY):
                    await self._stats_due.wait()
            self._stats_due.clear()
            if self.metrics.up:
                await self._read_figures()
            await asyncio.sleep(FIGURES_INTERVAL)

    async def _read_figures(self) -> None:
        loop = asyncio.get_running_loop()
        figures_answer: asyncio.Future[Any] = loop.create_future()
        args = self._refresh_args()
        self._call("refresh", args, _settle(figures_answer), _settle_failed(figures_answer))
        peers_answer: asyncio.Future[Any] | None = None
        if self.config.allow_discovery:
            peers_answer = loop.create_future()
            self._call("peers", [], _settle(peers_answer), _settle_failed(peers_answer))
        try:
            async with asyncio.timeout(self.config.redis_timeout * 2):
                answer = await figures_answer
                listed = await peers_answer if peers_answer is not None else None
        except TimeoutError:
            return
        if answer is not None:
            self.store.figures, _ = figures(answer)
        if listed is not None:
            self.peer_list = sorted(value.decode() for value in listed)

    @property
    def figures(self) -> ClusterFigures:
        return self.store.figures

    # -- the writer: every call, in order ----------

    def _call(
        self,
        script: str,
        args: list[str | int],
        done: Callable[[Any], None],
        failed: Callable[[], None],
    ) -> None:
        self._pending.calls.append(_Call(script, args, done, failed))
        self._pending.ready.set()

    def _take(self) -> list[_Call]:
        """The next batch, in order: at most MAX_BATCH calls (the rest waits its turn)."""
        calls: list[_Call] = [self._release_call(r) for r in self.store.outbox]
        self.store.outbox.clear()
        room = max(0, MAX_BATCH - len(calls))
        calls.extend(self._pending.calls[:room])
        del self._pending.calls[:room]
        if not self._pending.calls:
            self._pending.ready.clear()
        return calls

    def _release_call(self, release: Release) -> _Call:
        return _Call(
            "release",
            [release.id, release.owner, release.grace_ms, release.max_away],
            _ignore,
            _ignore_failure,
        )

    async def _write_forever(self) -> None:
        while True:
            await self._pending.ready.wait()
            if not self.metrics.up:
                self._fail(self._take())
                await self._back.wait()
                continue
            await self._flush_now()

    async def _flush_now(self) -> None:
        calls = self._take()
        if not calls:
            return
        # Consecutive routes go as one script call (one PUBLISH per instance in Redis).
        groups: list[list[_Call]] = []
        for call in calls:
            if call.script == "route" and groups and groups[-1][0].script == "route":
                groups[-1].append(call)
            else:
                groups.append([call])
        limits = self.config.limits
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.config.redis_timeout):
                pipe = self._client().pipeline(transaction=False)
                for group in groups:
                    if group[0].script == "route":
                        args: list[str | int] = [
                            limits.max_queued_bytes_per_sender,
                            limits.max_queued_per_peer,
                            limits.max_queued_total,
                            limits.max_queued_bytes_total,
                            QUEUED_OVERHEAD,
                        ]
                        for call in group:
                            args.extend(call.args)
                    else:
                        args = group[0].args
                    pipe.evalsha(self._shas[group[0].script], 0, self._prefix, *args)
                answers = await pipe.execute(raise_on_error=False)
            self._timed(time.monotonic() - started, len(calls))
        except REDIS_FAILURES as exc:
            self._lost(exc)
            self._fail(calls)
            return
        for group, answer in zip(groups, answers, strict=True):
            if isinstance(answer, Exception):
                self._lost(answer)
                self._fail(group)
            elif group[0].script == "route":
                for call, result in zip(group, answer, strict=True):
                    call.done(result)
            else:
                group[0].done(answer)

    def _timed(self, seconds: float, calls: int) -> None:
        self.metrics.round_trip(seconds)
        if seconds < SLOW_ROUND_TRIP:
            return
        self.metrics.slow += 1
        now = time.monotonic()
        if now - self._slow_logged >= SLOW_LOG_EVERY:
            self._slow_logged = now
            logger.warning(
                "[Cluster] Redis at %s is slow: a round trip of %d calls took %.0f ms "
                "(%d slower than %.0f ms so far); messages across instances wait meanwhile",
                redact(self.config.redis_url),
                calls,
                seconds * 1000,
                self.metrics.slow,
                SLOW_ROUND_TRIP * 1000,
            )

    def _fail(self, calls: list[_Call]) -> None:
        for call in calls:
            call.failed()

    # -- Redis lost and found ----------

    def _lost(self, exc: BaseException) -> None:
        self.metrics.errors += 1
        if not self.metrics.up:
            return
        self.metrics.up = False
        self.metrics.outages += 1
        self._back.clear()
        self._gone.set()
        logger.warning(
            "[Cluster] Redis at %s is unreachable (%s): peers on this instance keep relaying "
            "to each other; messages to other instances answer EXPIRE and new peers are "
            "refused until it is back. Reconnecting.",
            redact(self.config.redis_url),
            describe(exc),
        )

    async def _supervise(self) -> None:
        while True:
            await self._gone.wait()
            delays = backoff(0.1, 2.0, 5.0)
            while not self.metrics.up:
                await asyncio.sleep(next(delays))
                try:
                    await self._recover()
                except (TimeoutError, OSError, RedisError, ProtocolError) as exc:
                    self.metrics.errors += 1
                    logger.debug("[Cluster] Redis still unreachable: %s", describe(exc))
            self._gone.clear()

    async def _recover(self) -> None:
        async with asyncio.timeout(self.config.redis_timeout * 3):
            # Connections from before the outage may look open and fail at their first use.
            await self._client().connection_pool.disconnect()
            await self._client().ping()
            await self._connect()
            claims = self.realm.registrations()
            self.metrics.up = True  # the writer may run again; registration goes first
            self._back.set()
            outcomes = await self._claim_again(claims)
        actions: list[Action] = []
        now = self._clock()
        lost = 0
        for claim, outcome in zip(claims, outcomes, strict=True):
            if outcome.result is ClaimResult.CLAIMED:
                actions.extend(self._queued_for(claim, outcome))
            elif outcome.result is ClaimResult.UNAVAILABLE:
                pass  # down again: the next recovery registers it
            else:
                lost += 1
                actions.extend(self.realm.lost(claim.conn, now))
            actions.extend(self._held_for(claim))
        self._perform(actions)
        logger.warning(
            "[Cluster] Redis at %s is back: %d peers of this instance registered again%s",
            redact(self.config.redis_url),
            len(claims) - lost,
            f", {lost} found their id taken" if lost else "",
        )

    async def _claim_again(self, claims: list[Claim]) -> list[ClaimOutcome]:
        """Register peers of this instance again; until the caller takes what was held for
        them (`_held_for`), what other instances route to them waits."""
        for claim in claims:
            self._reclaiming.setdefault(claim.id, [])
        try:
            return list(await asyncio.gather(*(self.claim(c) for c in claims)))
        except BaseException:
            # Nothing is lost on the way out: what was held goes to its peers now.
            self._perform([a for claim in claims for a in self._held_for(claim)])
            raise

    def _held_for(self, claim: Claim) -> list[Action]:
        """What other instances routed to a peer while it was being registered again."""
        actions: list[Action] = []
        for delivery in self._reclaiming.pop(claim.id, []):
            actions.extend(self.realm.deliver(delivery.message, delivery.frame))
        return actions

    def _queued_for(self, claim: Claim, outcome: ClaimOutcome) -> list[Action]:
        """Messages that were queued for a peer here while Redis did not know it was here."""
        actions: list[Action] = []
        for queued in outcome.queued:
            message = ServerMessage(MessageType(queued.type), queued.src, claim.id)
            actions.extend(self.realm.deliver(message, queued.frame))
        return actions

    # -- the subscriber ----------

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            async for item in pubsub.listen():
                if item.get("type") != "message":
                    continue
                self._receive(item["data"])
        except REDIS_FAILURES as exc:
            self._lost(exc)
        finally:
            with contextlib.suppress(*REDIS_FAILURES):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _receive(self, data: bytes) -> None:
        try:
            envelope = parse_envelope(data, self.incarnation)
        except ProtocolError as exc:
            logger.warning("[Cluster] Ignored %s", exc)
            return
        if isinstance(envelope, list):
            self.metrics.received += len(envelope)
            actions: list[Action] = []
            for delivery in envelope:
                held = self._reclaiming.get(delivery.message.dst or "")
                if held is not None:
                    held.append(delivery)
                else:
                    actions.extend(self.realm.deliver(delivery.message, delivery.frame))
            self._perform(actions)
        else:
            self._perform(self.realm.moved(envelope.id, envelope.conn, self._clock()))

    # -- leases and queues ----------

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            if self.metrics.up:
                await self.renew()

    def _refresh_args(self) -> list[str | int]:
        """The head of a `refresh` call: who this instance is, its leases and its peer count."""
        return [
            self.incarnation,
            self.name,
            self._lease_ms,
            self._instance_ttl_ms,
            self.realm.peer_count,
        ]

    async def renew(self) -> None:
        """Renew this instance and its peers' leases; read the realm-wide figures."""
        held = self.realm.held()
        chunks = [held[i : i + RENEW_CHUNK] for i in range(0, len(held), RENEW_CHUNK)] or [[]]
        answers: list[asyncio.Future[Any]] = []
        loop = asyncio.get_running_loop()
        for chunk in chunks:
            future: asyncio.Future[Any] = loop.create_future()
            args = self._refresh_args()
            for id, conn in chunk:
                args += [id, self.store.owner(conn)]
            self._call("refresh", args, _settle(future), _settle_failed(future))
            answers.append(future)
        missing: list[str] = []
        for future in answers:
            try:
                async with asyncio.timeout(self.config.redis_timeout * 2):
                    answer = await future
            except TimeoutError:
                return
            if answer is None:
                return
            self.store.figures, gone = figures(answer)
            missing += gone
        if missing:
            # Redis forgot them (a restart between two renewals): register them again.
            gone_ids = set(missing)
            claims = [c for c in self.realm.registrations() if c.id in gone_ids]
            outcomes = await self._claim_again(claims)
            actions: list[Action] = []
            for claim, outcome in zip(claims, outcomes, strict=True):
                if outcome.result is ClaimResult.CLAIMED:
                    actions.extend(self._queued_for(claim, outcome))
                elif outcome.result is not ClaimResult.UNAVAILABLE:
                    actions.extend(self.realm.lost(claim.conn, self._clock()))
                actions.extend(self._held_for(claim))
            self._perform(actions)

    async def _sweep_forever(self) -> None:
        expire_ms = max(1, round(self.config.expire_timeout * 1000))
        while True:
            await asyncio.sleep(self.config.cleanup_interval)
            if not self.metrics.up:
                continue

            def done(answer: Any) -> None:
                values = [v.decode() if isinstance(v, bytes) else v for v in answer[1:]]
                pairs = list(zip(values[::2], values[1::2], strict=True))
                if pairs:
                    self._perform(self.realm.expired_elsewhere(pairs))

            self._call("expire", [expire_ms, SWEEP_LIMIT], done, _ignore_failure)


def _settle(future: asyncio.Future[Any]) -> Callable[[Any], None]:
    def done(answer: Any) -> None:
        if not future.done():
            future.set_result(answer)

    return done


def _settle_failed(future: asyncio.Future[Any]) -> Callable[[], None]:
    def failed() -> None:
        if not future.done():
            future.set_result(None)

    return failed


def _ignore(answer: Any) -> None:
    pass


def _ignore_failure() -> None:
    pass


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
