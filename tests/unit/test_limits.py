from chat.limits import ConnectionCounter, HourlyCounter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=10, clock=clock)
    assert all(bucket.take() for _ in range(10))
    assert not bucket.take()
    assert 0 < bucket.seconds_until_next() <= 0.2
    clock.now += 0.2
    assert bucket.take()
    assert not bucket.take()


def test_tokens_never_exceed_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=3, clock=clock)
    clock.now += 3600
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_rate_of_zero_switches_the_limit_off() -> None:
    bucket = TokenBucket(rate=0, burst=1, clock=FakeClock())
    assert all(bucket.take() for _ in range(1000))
    assert bucket.seconds_until_next() == 0


def test_connections_are_counted_per_address() -> None:
    counter = ConnectionCounter()
    assert counter.acquire("10.0.0.1", 2)
    assert counter.acquire("10.0.0.1", 2)
    assert not counter.acquire("10.0.0.1", 2)
    assert counter.acquire("10.0.0.2", 2)
    counter.release("10.0.0.1")
    assert counter.acquire("10.0.0.1", 2)


def test_a_connection_limit_of_zero_switches_it_off() -> None:
    counter = ConnectionCounter()
    assert all(counter.acquire("10.0.0.1", 0) for _ in range(1000))


def test_an_hourly_count_is_per_key_and_starts_again_with_the_next_hour() -> None:
    clock = FakeClock()
    rooms = HourlyCounter(clock)
    assert [rooms.take("10.0.0.1", 2) for _ in range(3)] == [True, True, False]
    assert rooms.take("10.0.0.2", 2)
    clock.now += 3599
    assert not rooms.take("10.0.0.1", 2)
    assert rooms.seconds_left() == 1
    clock.now += 1
    assert rooms.take("10.0.0.1", 2)
    assert dict(rooms.counts) == {"10.0.0.1": 1}, "the past hour's keys are gone"


def test_an_hourly_limit_of_zero_switches_it_off() -> None:
    rooms = HourlyCounter(FakeClock())
    assert all(rooms.take("10.0.0.1", 0) for _ in range(100))
    assert not rooms.counts
