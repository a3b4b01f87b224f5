"""Two ways to reach a person's pages on every process, measured at the channel layer with real Redis.

- **A Group per person** (the textbook design, which notifications had first): each
  process joins ``inbox.<user id>`` once per person with a page open on it, through
  its `chat.fanout.LocalFanout`: one hub, with a channel and a receiving task, per
  person online. A notification is sent to that person's Group and reaches only the
  processes holding one of their pages.
- **One Group, addressed** (what notifications do, `chat.groups.INBOX_GROUP`, as mentions do):
  each process joins one Group once, and each person's pages join its hub under
  the person's key (``fanout.join(group, page, address=key)``). A notification
  carries ``"to": [key]`` and reaches every process; each hands it to the pages
  it names, if it holds any.

P worker processes, each with the project's channel layer as Daphne makes it
from the settings, hold M persons each, one page per person; one more process
sends. A page stands in for a notification socket: it does what the consumer
would do with the event (the text as it is for a Group per person; the frame
re-encoded without ``to``, as the mentions' consumer does) and notes when the
event arrived. Events carry the time they were sent (`time.monotonic`, one
clock for every process of the machine).
"""

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import redis

GROUP_PER_PERSON = "a Group per person"
ONE_GROUP = "one Group, addressed"
DESIGNS = (GROUP_PER_PERSON, ONE_GROUP)
# The process-level Group of the second design (a room's Group can't be called this: theirs start with "chat.").
SHARED_GROUP = "people.inbox"  # chat.groups.INBOX_GROUP
# Opened in each worker before its memory is read: the pool's limit, which a storm of joins reaches.
POOL_CONNECTIONS = 100
WAIT = 60  # seconds any one wait for a worker or for Redis may take
# The commands the main process reads Redis with, left out of the counts.
OWN_COMMANDS = {"cmdstat_info", "cmdstat_dbsize", "cmdstat_flushall", "cmdstat_scan", "cmdstat_memory|usage"}


# ### In each worker process ###


class Page:
    """One notification socket of one person: what the consumer would do with the event, then when it arrived."""

    __slots__ = ("arrivals", "frame")

    def __init__(self, arrivals: list[tuple[str, float, float]]) -> None:
        self.arrivals = arrivals
        self.frame = ""  # the last frame, as the socket would have sent it

    async def group_event(self, event: dict, text: str) -> None:
        from chat import protocol

        if "phase" not in event:  # layer.recovered, after a command timed out
            return
        if "to" in event:  # the frame without its addressing, as the mentions' consumer sends it
            text = protocol.encode({key: value for key, value in event.items() if key != "to"})
        self.frame = text
        self.arrivals.append((event["phase"], event["sent"], time.monotonic()))


class Timeouts(logging.Handler):
    """Counts the layer's "Redis is unreachable" warnings: a command that took longer than its timeout."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += record.getMessage().startswith("Redis is unreachable")


def placement(design: str) -> Callable[[int], tuple[str, str | None]]:
    """A person's Group and address in `design`."""
    from accounts.identity import account_key

    if design == GROUP_PER_PERSON:
        return lambda user_id: (person_group(user_id), None)
    return lambda user_id: (SHARED_GROUP, account_key(user_id))


def person_group(user_id: int) -> str:
    """A person's own Group in the per-person design."""
    return f"inbox.{user_id}"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def notification_event(design: str, user_id: int, number: int, phase: str) -> tuple[str, dict]:
    """The Group and event of one notification as `notifications.services.apublish` sends it, with its send time."""
    from accounts.identity import account_key
    from chat import protocol

    frame = protocol.notification(
        number, "server", f"Your essay number {number} was marked", "/chat/english/", "", datetime.now(UTC), None
    )
    event = frame | {"phase": phase, "sent": time.monotonic()}
    if design == GROUP_PER_PERSON:
        return person_group(user_id), event
    return SHARED_GROUP, event | {"to": [account_key(user_id)]}


class Worker:
    """One process's side: its pages and hubs, and the commands of the main process."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        from chat.fanout import LocalFanout

        self.layer = get_channel_layer()
        self.fanout = LocalFanout(self.layer)
        self.arrivals: list[tuple[str, float, float]] = []
        self.members: list[tuple[str, Page, str | None]] = []
        self.timeouts = Timeouts()
        layer_log = logging.getLogger("chat.layers")
        layer_log.addHandler(self.timeouts)
        layer_log.propagate = False  # counted, not printed

    async def serve(self, conn: Connection) -> None:
        conn.send("ready")
        while True:
            command, *args = await asyncio.to_thread(conn.recv)
            if command == "stop":
                return
            conn.send(await getattr(self, command)(*args))

    async def warm(self) -> None:
        # A busy process has its pool's connections open already: they are no person's cost.
        await asyncio.gather(*(self.layer.connection(0).ping() for _ in range(POOL_CONNECTIONS)))

    async def cpu(self) -> float:
        return time.process_time()

    async def join(self, design: str, user_ids: list[int]) -> dict[str, float]:
        """All pages join at once, as after a restart; then wait for any recovery the storm set off to end."""
        where = placement(design)
        self.members = [(group, Page(self.arrivals), address) for group, address in map(where, user_ids)]
        gc.collect()
        memory, cpu, start = rss_kib(), time.process_time(), time.monotonic()
        await asyncio.gather(*(self.fanout.join(group, page, address) for group, page, address in self.members))
        elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
        while self.layer.recovering:
            await asyncio.sleep(0.05)
        gc.collect()
        return {"seconds": elapsed, "cpu": cpu, "kib": rss_kib() - memory, "timeouts": self.timeouts.count}

    async def collect(self, phase: str, expected: int) -> list[tuple[float, float]]:
        """When the phase's notifications were sent and arrived, once `expected` arrived (or after `WAIT` s)."""
        deadline = time.monotonic() + WAIT
        while len(got := [arrival for arrival in self.arrivals if arrival[0] == phase]) < expected:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        return [(sent, arrived) for _, sent, arrived in got]

    async def leave(self) -> dict[str, float]:
        """All pages leave at once."""
        before, cpu, start = self.timeouts.count, time.process_time(), time.monotonic()
        await asyncio.gather(*(self.fanout.leave(group, page, address) for group, page, address in self.members))
        elapsed = time.monotonic() - start
        return {"seconds": elapsed, "cpu": time.process_time() - cpu, "timeouts": self.timeouts.count - before}

    async def send(self, design: str, targets: list[int], phase: str, interval: float) -> dict[str, float]:
        """A notification to each of `targets` in turn: one every `interval` s, or back to back for 0."""
        cpu, start = time.process_time(), time.monotonic()
        for number, user_id in enumerate(targets):
            if interval:
                await asyncio.sleep(max(0.0, start + number * interval - time.monotonic()))
            await self.layer.group_send(*notification_event(design, user_id, number, phase))
        return {"start": start, "seconds": time.monotonic() - start, "cpu": time.process_time() - cpu}


def run_worker(conn: Connection, env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()

    async def main() -> None:
        await Worker().serve(conn)

    asyncio.run(main())


# ### In the main process ###


class Workers:
    """P processes holding pages, and one sending; stopped on leaving the `with`."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes: list[multiprocessing.Process] = []
        self.conns: list[Connection] = []
        for _ in range(count + 1):
            ours, theirs = context.Pipe()
            self.processes.append(context.Process(target=run_worker, args=(theirs, env), daemon=True))
            self.conns.append(ours)

    def __enter__(self) -> "Workers":
        for process in self.processes:
            process.start()
        for conn in self.conns:
            self.answer(conn)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):  # a worker that has gone already
                conn.send(("stop",))
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    @property
    def holders(self) -> list[Connection]:
        return self.conns[:-1]

    @property
    def sender(self) -> Connection:
        return self.conns[-1]

    def answer(self, conn: Connection) -> object:
        """The next answer on `conn`; stops the run if a worker has failed, or none answers within `WAIT` s."""
        deadline = time.monotonic() + WAIT
        while not conn.poll(0.5):
            if not all(process.is_alive() for process in self.processes):
                raise SystemExit("a worker process failed (its error is above)")
            if time.monotonic() > deadline:
                raise SystemExit(f"a worker process did not answer in {WAIT} s")
        return conn.recv()

    def ask(self, conns: list[Connection], *command: object) -> list:
        """Send `command` to each of `conns`, so that they work at once; then their answers."""
        for conn in conns:
            conn.send(command)
        return [self.answer(conn) for conn in conns]

    def cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by the processes holding pages (together), and by the sender."""
        *holders, sender = self.ask(self.conns, "cpu")
        return sum(holders), sender


class RedisStats:
    """Commands run and CPU time used by Redis since the last reading (the readings' own commands left out)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.reading = self.read()

    def read(self) -> tuple[int, float]:
        commands = self.client.info("commandstats")
        calls = sum(stats["calls"] for name, stats in commands.items() if name not in OWN_COMMANDS)
        cpu = self.client.info("cpu")
        return calls, cpu["used_cpu_user"] + cpu["used_cpu_sys"]

    def drained(self, keys: int) -> None:
        """Wait until Redis holds `keys` keys again: every event sent was received, and its backup copy deleted."""
        deadline = time.monotonic() + WAIT
        while self.client.dbsize() > keys and time.monotonic() < deadline:
            time.sleep(0.01)

    def since(self) -> tuple[int, float]:
        """Commands run and CPU seconds used since the last reading; reads anew."""
        before, self.reading = self.reading, self.read()
        return tuple(now - then for now, then in zip(self.reading, before, strict=True))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


def group_bytes(client: redis.Redis) -> int:
    """The memory of the Groups' keys in Redis (channels-redis's key layout), as Redis counts it."""
    keys = list(client.scan_iter("asgi:group:*", count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key)
    return sum(pipe.execute())


def alone(client: redis.Redis) -> None:
    """Wait until the workers of the last row have let go of their connections: Redis frees their memory then."""
    deadline = time.monotonic() + WAIT
    while client.info("clients")["connected_clients"] > 1 and time.monotonic() < deadline:
        time.sleep(0.05)


def join_storm(workers: Workers, stats: RedisStats, design: str, online: list[list[int]]) -> dict[str, float]:
    """Every process joins its persons at once; what that took, per person."""
    everyone = sum(map(len, online))
    for conn, user_ids in zip(workers.holders, online, strict=True):
        conn.send(("join", design, user_ids))
    joins = [workers.answer(conn) for conn in workers.holders]
    commands, redis_cpu = stats.since()
    return {
        "join s": max(join["seconds"] for join in joins),
        "process µs/join": 1e6 * sum(join["cpu"] for join in joins) / everyone,
        "Redis cmds/join": commands / everyone,
        "Redis µs/join": 1e6 * redis_cpu / everyone,
        "KiB/person": sum(join["kib"] for join in joins) / everyone,
        "Redis B/person": group_bytes(stats.client) / everyone,
        "command timeouts": sum(join["timeouts"] for join in joins),
    }


def send_phase(
    workers: Workers, stats: RedisStats, design: str, phase: str, targets: list[int], interval: float, holder: dict
) -> tuple[list[tuple[float, float]], float, dict[str, float]]:
    """Send to each of `targets`; when each arrived (send and arrival times), when the first left, and the costs."""
    expected = [0] * len(workers.holders)
    for user_id in targets:
        if user_id in holder:
            expected[holder[user_id]] += 1
    keys = stats.client.dbsize()
    cpu = workers.cpu()
    stats.since()
    workers.sender.send(("send", design, targets, phase, interval))
    start = workers.answer(workers.sender)["start"]
    for conn, count in zip(workers.holders, expected, strict=True):
        conn.send(("collect", phase, count))
    arrivals = [pair for conn in workers.holders for pair in workers.answer(conn)]
    stats.drained(keys)
    commands, redis_cpu = stats.since()
    holders_cpu, sender_cpu = (now - then for now, then in zip(workers.cpu(), cpu, strict=True))
    count = len(targets)
    costs = {
        "Redis cmds": commands / count,
        "Redis µs": 1e6 * redis_cpu / count,
        "sender µs": 1e6 * sender_cpu / count,
        "holders µs": 1e6 * holders_cpu / count,
        "all µs": 1e6 * (redis_cpu + sender_cpu + holders_cpu) / count,
    }
    return arrivals, start, costs


def leave_storm(workers: Workers, stats: RedisStats, everyone: int) -> dict[str, float]:
    """Every page leaves at once; what that took, per person, and the memberships Redis still holds after."""
    stats.since()
    leaves = workers.ask(workers.holders, "leave")
    commands, redis_cpu = stats.since()
    groups = stats.client.scan_iter("asgi:group:*", count=1000)
    return {
        "leave s": max(leave["seconds"] for leave in leaves),
        "process µs/leave": 1e6 * sum(leave["cpu"] for leave in leaves) / everyone,
        "Redis cmds/leave": commands / everyone,
        "Redis µs/leave": 1e6 * redis_cpu / everyone,
        "command timeouts": sum(leave["timeouts"] for leave in leaves),
        "stale members": sum(stats.client.zcard(key) for key in groups),
    }


def measure(
    redis_url: str,
    env: dict[str, str],
    design: str,
    processes: int,
    persons: int,
    *,
    paced: int,
    rate: float,
    burst: int,
    offline: int,
) -> dict[str, float]:
    """One row: P processes join M persons each at once; notifications paced, back to back, to nobody online; leave."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    alone(client)
    rng = random.Random(19)
    online = [[number * persons + person + 1 for person in range(persons)] for number in range(processes)]
    holder = {user_id: index for index, user_ids in enumerate(online) for user_id in user_ids}
    everyone = processes * persons
    with Workers(env, processes) as workers:
        workers.ask(workers.conns, "warm")
        stats = RedisStats(client)
        row = join_storm(workers, stats, design, online)

        targets = rng.choices(range(1, everyone + 1), k=paced)
        arrivals, _, _ = send_phase(workers, stats, design, "paced", targets, 1 / rate, holder)
        delays = [1000 * (arrived - sent) for sent, arrived in arrivals]
        row["p50 ms"], row["p99 ms"] = statistics.median(delays), percentile(delays, 0.99)
        row["lost"] = paced - len(arrivals)

        # The costs are read back to back, where the processes do nothing else.
        targets = rng.choices(range(1, everyone + 1), k=burst)
        arrivals, start, costs = send_phase(workers, stats, design, "burst", targets, 0.0, holder)
        row["back to back /s"] = len(arrivals) / (max(arrived for _, arrived in arrivals) - start)
        row["lost"] += burst - len(arrivals)
        row |= costs

        nobody = list(range(everyone + 1, everyone + 1 + offline))
        _, _, costs = send_phase(workers, stats, design, "offline", nobody, 0.0, holder)
        row |= {f"offline: {name}": value for name, value in costs.items()}

        left = leave_storm(workers, stats, everyone)
        row["command timeouts"] += left.pop("command timeouts")
        row |= left
    # A page opened and closed: its join and its leave, in the processes and in Redis.
    row["page µs"] = sum(row[key] for key in ("process µs/join", "Redis µs/join", "process µs/leave", "Redis µs/leave"))
    return row
