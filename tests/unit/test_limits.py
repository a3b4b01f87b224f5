import pytest

from chat import limits, protocol
from chat.limits import (
    ConnectionCounter,
    FrameAllowance,
    HourlyCounter,
    RateLimiter,
    TokenBucket,
    extra_handshakes,
)


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


def test_a_bucket_charged_past_its_tokens_refuses_until_the_debt_is_paid() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=100, clock=clock)
    assert bucket.reserve(120) == 120  # a burst of 100: 20 into debt
    assert not bucket.take()
    assert bucket.seconds_until_next() == pytest.approx(2.1)  # from -20 tokens to 1, at 10 a second
    clock.now += 2.101
    assert bucket.take()


def test_an_emptied_bucket_refuses_for_the_time_it_takes_to_refill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=100, clock=clock)
    bucket.empty()
    assert not bucket.take()
    assert bucket.seconds_until_next() == pytest.approx(10)
    clock.now += 9.9
    assert not bucket.take()
    clock.now += 0.2
    assert bucket.take()


def test_a_client_that_waits_as_told_is_never_taken_for_a_flooder() -> None:
    """One that sends each frame at once, and after a refusal waits what it is told (the page paces itself too)."""
    clock = FakeClock()
    allowance = FrameAllowance(rate=5, burst=10, clock=clock)
    for _ in range(1000):
        while not allowance.take():
            assert allowance.refuse()
            clock.now += protocol.rate_limited(allowance.frames.seconds_until_next())["retry_after"]
        clock.now += 0.001


def test_a_burst_sent_at_once_may_be_refused_up_to_twice_its_size_and_no_more() -> None:
    clock = FakeClock()
    allowance = FrameAllowance(rate=5, burst=10, clock=clock)
    assert [allowance.take() for _ in range(30)] == [True] * 10 + [False] * 20
    assert all(allowance.refuse() for _ in range(20))  # 30 pipelined frames: 20 refused, not yet a flood
    assert not allowance.take()
    assert not allowance.refuse()  # the 31st: a flood


def test_sending_at_twice_the_rate_is_refused_half_but_four_times_is_a_flood() -> None:
    def seconds_until_flooding(frames_per_second: float) -> float | None:
        clock = FakeClock()
        allowance = FrameAllowance(rate=5, burst=10, clock=clock)
        for number in range(int(60 * frames_per_second)):
            if not allowance.take() and not allowance.refuse():
                return number / frames_per_second
            clock.now += 1 / frames_per_second
        return None

    assert seconds_until_flooding(10) is None
    assert seconds_until_flooding(20) < 5  # refused 15 a second, the budget regains 10: 20 spent in 4 s
    assert seconds_until_flooding(10_000) < 0.01


def test_pings_have_an_allowance_of_their_own() -> None:
    allowance = FrameAllowance(rate=5, burst=10, clock=FakeClock())
    assert [allowance.ping() for _ in range(4)] == [True, True, True, False]
    assert allowance.take()


def test_a_catch_up_counts_as_a_handshake_per_history_length_beyond_the_history() -> None:
    assert extra_handshakes(0, 50) == 0
    assert extra_handshakes(50, 50) == 0
    assert extra_handshakes(1000, 50) == 19
    assert extra_handshakes(3, 0) == 2  # a history of 0: each message beyond it counts


def test_rate_limiters_keep_only_buckets_that_are_not_full_again() -> None:
    """A handshake from each of 100,000 addresses, 1,000 a second: buckets refill within 0.1 s."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    most = 0
    for number in range(100_000):
        assert limiter.bucket(f"10.{number}", rate=10, burst=100).take()
        most = max(most, len(limiter.buckets))
        clock.now += 0.001
    assert most <= 2 * RateLimiter.FIRST_SWEEP


def test_a_bucket_in_use_is_kept_by_a_sweep() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    busy = limiter.bucket("busy", rate=1, burst=2)
    busy.take()
    limiter.bucket("idle", rate=1, burst=2)
    limiter.sweep()
    assert limiter.buckets == {"busy": busy}


def test_an_hourly_count_is_per_key_and_starts_again_with_the_next_hour() -> None:
    clock = FakeClock()
    rooms = HourlyCounter(clock)
    assert [rooms.take("10.0.0.1", 2, room) for room in ("a", "b", "c")] == [True, True, False]
    assert rooms.take("10.0.0.2", 2, "c")
    clock.now += 3599
    assert not rooms.take("10.0.0.1", 2, "d")
    assert rooms.seconds_left() == 1
    clock.now += 1
    assert rooms.take("10.0.0.1", 2, "d")
    assert rooms.counts == {"10.0.0.1": {"d"}}, "the past hour's keys are gone"


def test_one_room_counted_by_messages_that_race_to_store_it_counts_once() -> None:
    """A class of 30 behind one address saying hello at once in a new room starts one room, not 30."""
    rooms = HourlyCounter(FakeClock())
    assert all(rooms.take("10.0.0.1", 2, "physics") for _ in range(30))
    assert rooms.take("10.0.0.1", 2, "maths")
    assert not rooms.take("10.0.0.1", 2, "chemistry")


def test_an_hourly_limit_of_zero_switches_it_off() -> None:
    rooms = HourlyCounter(FakeClock())
    assert all(rooms.take("10.0.0.1", 0) for _ in range(100))
    assert not rooms.counts


def test_warnings_about_one_address_are_bounded_and_others_still_logged(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(limits, "log_lines", RateLimiter(clock=clock))
    logged = [limits.may_log_about("10.0.0.1") for _ in range(1000)]
    assert logged.count(True) == limits.LOG_LINES_AT_ONCE
    assert limits.may_log_about("10.0.0.2"), "another address has a budget of its own"
    clock.now += 1 / limits.LOG_LINES_PER_SECOND
    assert limits.may_log_about("10.0.0.1")
