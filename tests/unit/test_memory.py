from bridge.transport.memory import HeapTrimmer


def fake_trim() -> tuple[HeapTrimmer, list[int]]:
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    return HeapTrimmer(trim, settle=3.0, longest_wait=30.0), calls


def test_trims_only_after_a_close_has_settled() -> None:
    trimmer, calls = fake_trim()
    assert trimmer.release_if_due(now=1.0) is False  # nothing closed
    trimmer.note_closed(now=1.0)
    assert trimmer.release_if_due(now=2.0) is False  # too soon: teardown still running
    assert calls == []
    assert trimmer.release_if_due(now=4.0) is True
    assert calls == [0]
    assert trimmer.release_if_due(now=1000.0) is False  # once per close
    assert calls == [0]


def test_a_stream_of_closes_still_trims_now_and_then() -> None:
    trimmer, calls = fake_trim()
    trimmed_at = None
    for second in range(40):
        trimmer.note_closed(now=float(second))
        if trimmer.release_if_due(now=second + 0.5):
            trimmed_at = second
            break
    assert trimmed_at == 30 and calls == [0]


def test_without_malloc_trim_nothing_is_trimmed() -> None:
    trimmer = HeapTrimmer(None)
    trimmer.note_closed(now=0.0)
    assert trimmer.release_if_due(now=100.0) is False
    assert trimmer.release_if_due(now=200.0) is False
