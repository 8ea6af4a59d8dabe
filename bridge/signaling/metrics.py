"""Counters of the signaling server and their Prometheus text exposition (format 0.0.4)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.signaling.cluster_state import ClusterFigures, ClusterMetrics

#: Upper bounds (seconds) of the buckets of the cluster's Redis round-trip histogram.
ROUND_TRIP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class RejectReason(enum.StrEnum):
    """Why the server refused a connection or a message; a label of the rejected counter."""

    BAD_PARAMETERS = "bad_parameters"
    BAD_KEY = "bad_key"
    BAD_ID = "bad_id"
    BAD_TOKEN = "bad_token"
    ID_TAKEN = "id_taken"
    CONCURRENT_LIMIT = "concurrent_limit"
    IP_LIMIT = "ip_limit"
    REGISTRATION_RATE = "registration_rate"
    ORIGIN = "origin"
    FRAME_TOO_LARGE = "frame_too_large"
    BINARY_FRAME = "binary_frame"
    MALFORMED = "malformed"
    RATE_LIMITED = "rate_limited"
    QUEUE_FULL = "queue_full"
    DESTINATION_BUSY = "destination_busy"
    READ_BUFFERS_FULL = "read_buffers_full"
    STALLED_READER = "stalled_reader"
    CLUSTER_UNAVAILABLE = "cluster_unavailable"


@dataclass
class SignalingMetrics:
    connections: int = 0
    disconnections: int = 0
    timed_out: int = 0
    relayed: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    expired: int = 0
    #: Messages handed to another instance of a cluster (or queued there).
    forwarded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: RejectReason) -> None:
        self.rejected[reason.value] += 1

    def render(
        self,
        *,
        peers: int,
        queued_now: int,
        queued_bytes: int = 0,
        reservations: int = 0,
        unsent_bytes: int = 0,
        read_buffer_bytes: int = 0,
    ) -> str:
        """Prometheus text format; every reason appears, so dashboards see zeros."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {value:g}")

        metric("pathfinder_signaling_peers", "gauge", "Peers currently connected.", [("", peers)])
        metric(
            "pathfinder_signaling_queued_messages",
            "gauge",
            "Messages waiting for an absent peer.",
            [("", queued_now)],
        )
        metric(
            "pathfinder_signaling_queued_bytes",
            "gauge",
            "Bytes of messages waiting for an absent peer.",
            [("", queued_bytes)],
        )
        metric(
            "pathfinder_signaling_unsent_bytes",
            "gauge",
            "Bytes written for peers that are behind and not yet taken by them (this instance).",
            [("", unsent_bytes)],
        )
        metric(
            "pathfinder_signaling_read_buffer_bytes",
            "gauge",
            "Bytes of read buffers grown by large frames (this instance).",
            [("", read_buffer_bytes)],
        )
        metric(
            "pathfinder_signaling_reservations",
            "gauge",
            "Ids held by a connected peer or reserved for one that went away.",
            [("", reservations)],
        )
        metric(
            "pathfinder_signaling_connections_total",
            "counter",
            "Peers registered (OPEN sent).",
            [("", self.connections)],
        )
        metric(
            "pathfinder_signaling_disconnections_total",
            "counter",
            "Peers removed, for any reason.",
            [("", self.disconnections)],
        )
        metric(
            "pathfinder_signaling_alive_timeouts_total",
            "counter",
            "Peers dropped for silence longer than alive_timeout.",
            [("", self.timed_out)],
        )
        relay_types = sorted(
            set(self.relayed) | {"OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE"}
        )
        metric(
            "pathfinder_signaling_messages_relayed_total",
            "counter",
            "Messages relayed to a connected peer, by type.",
            [(f'{{type="{t}"}}', self.relayed[t]) for t in relay_types],
        )
        metric(
            "pathfinder_signaling_messages_queued_total",
            "counter",
            "Messages queued for an absent peer.",
            [("", self.queued)],
        )
        metric(
            "pathfinder_signaling_messages_expired_total",
            "counter",
            "Queued messages dropped after expire_timeout.",
            [("", self.expired)],
        )
        metric(
            "pathfinder_signaling_rejected_total",
            "counter",
            "Connections and messages refused, by reason.",
            [(f'{{reason="{r.value}"}}', self.rejected[r.value]) for r in RejectReason],
        )
        return "\n".join(lines) + "\n"


def render_cluster(name: str, metrics: ClusterMetrics, figures: ClusterFigures) -> str:
    """A cluster instance's part of /metrics (Prometheus text)."""
    instance = name
    rows = [
        ("pathfinder_signaling_cluster_instance_info", "gauge",
         "This instance of the cluster, named by the name label.",
         [(f'{{name="{instance}"}}', 1)]),
        ("pathfinder_signaling_cluster_instances", "gauge",
         "Instances of the cluster alive, as of the last lease renewal.",
         [("", figures.instances)]),
        ("pathfinder_signaling_cluster_realm_peers", "gauge",
         "Peers connected to any instance of the realm, as of the last lease renewal.",
         [("", figures.realm_peers)]),
        ("pathfinder_signaling_cluster_redis_up", "gauge",
         "1 while Redis answers, 0 while this instance relays between its own peers only.",
         [("", 1 if metrics.up else 0)]),
        ("pathfinder_signaling_cluster_redis_round_trips_total", "counter",
         "Round trips to Redis (one pipeline of calls each).",
         [("", metrics.round_trips)]),
        ("pathfinder_signaling_cluster_redis_errors_total", "counter",
         "Calls to Redis that failed (unreachable, timed out, refused).",
         [("", metrics.errors)]),
        ("pathfinder_signaling_cluster_redis_slow_round_trips_total", "counter",
         "Round trips to Redis slower than 100 ms (each slow stretch is logged).",
         [("", metrics.slow)]),
        ("pathfinder_signaling_cluster_redis_outages_total", "counter",
         "Times Redis became unreachable for this instance.",
         [("", metrics.outages)]),
        ("pathfinder_signaling_cluster_relays_total", "counter",
         "Messages relayed across instances, by direction.",
         [('{direction="sent"}', metrics.sent), ('{direction="received"}', metrics.received)]),
    ]  # fmt: skip
    lines: list[str] = []
    for family, kind, help_text, samples in rows:
        lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}"]
        lines += [f"{family}{labels} {value:g}" for labels, value in samples]
    name = "pathfinder_signaling_cluster_redis_round_trip_seconds"
    lines += [
        f"# HELP {name} Time of a round trip to Redis (a pipeline of calls).",
        f"# TYPE {name} histogram",
    ]
    cumulative = 0
    for bound, count in zip(ROUND_TRIP_BUCKETS, metrics.round_trip_counts, strict=True):
        cumulative += count
        lines.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {metrics.round_trips}')
    lines.append(f"{name}_sum {metrics.round_trip_seconds:g}")
    lines.append(f"{name}_count {metrics.round_trips}")
    return "\n".join(lines) + "\n"
