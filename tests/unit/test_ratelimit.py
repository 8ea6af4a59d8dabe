from bridge.ratelimit import TokenBucket


def test_bucket_starts_full_and_drains() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3.0, updated=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_rate_up_to_capacity() -> None:
    bucket = TokenBucket(rate=2.0, capacity=2.0, updated=0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.take(0.5)  # one token back after 0.5 s at 2/s
    assert not bucket.take(0.5)
    assert bucket.take(100.0) and bucket.take(100.0) and not bucket.take(100.0)


def test_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=10.0, capacity=1.0, updated=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
