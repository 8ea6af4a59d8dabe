"""Counters of the signaling server and their Prometheus text exposition (format 0.0.4)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class RejectReason(enum.StrEnum):
    """Why the server refused a connection or a message; a label of the rejected counter."""

    BAD_PARAMETERS = "bad_parameters"
    BAD_KEY = "bad_key"
    BAD_ID = "bad_id"
    BAD_TOKEN = "bad_token"
    ID_TAKEN = "id_taken"
    CONCURRENT_LIMIT = "concurrent_limit"
    IP_LIMIT = "ip_limit"
    ORIGIN = "origin"
    FRAME_TOO_LARGE = "frame_too_large"
    BINARY_FRAME = "binary_frame"
    MALFORMED = "malformed"
    RATE_LIMITED = "rate_limited"
    QUEUE_FULL = "queue_full"
    DESTINATION_BUSY = "destination_busy"
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
        self, *, peers: int, queued_now: int, queued_bytes: int = 0, reservations: int = 0
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
