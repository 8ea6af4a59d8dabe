from bridge.signaling.metrics import RejectReason, SignalingMetrics


def test_prometheus_text_lists_every_reason_and_type() -> None:
    metrics = SignalingMetrics()
    metrics.relayed["OFFER"] += 3
    metrics.reject(RejectReason.RATE_LIMITED)
    text = metrics.render(peers=2, queued_now=1)
    assert "pathfinder_signaling_peers 2\n" in text
    assert 'pathfinder_signaling_messages_relayed_total{type="OFFER"} 3\n' in text
    assert 'pathfinder_signaling_messages_relayed_total{type="ANSWER"} 0\n' in text
    assert 'pathfinder_signaling_rejected_total{reason="rate_limited"} 1\n' in text
    assert 'pathfinder_signaling_rejected_total{reason="origin"} 0\n' in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.split()) == 2
