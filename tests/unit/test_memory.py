from bridge.transport import memory


def test_trims_only_after_a_close_has_settled() -> None:
    assert memory.release_if_due(now=1000.0) is False  # nothing closed
    memory.note_closed(now=1000.0)
    assert memory.release_if_due(now=1001.0) is False  # too soon: teardown still running
    assert memory.release_if_due(now=1000.0 + memory.SETTLE) is (memory._trim is not None)
    assert memory.release_if_due(now=2000.0) is False  # once per close


def test_a_stream_of_closes_still_trims_now_and_then() -> None:
    for second in range(40):
        memory.note_closed(now=5000.0 + second)
        if memory.release_if_due(now=5000.0 + second + 0.5):
            assert second >= memory.LONGEST_WAIT - 1
            break
    else:
        assert memory._trim is None
