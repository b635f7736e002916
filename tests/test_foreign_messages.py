"""Messages from other clients: published with plain pika to the worker's
queue, with every AMQP field type in every header the worker reads or copies
(x-delivery-count on a redelivery, attempts, first-failed-at, failed-at,
parked-at, error, x-death, ...; as str, bytes, a longstr that is not UTF-8,
int, negative int, bool, float, Decimal, datetime, None, list, table, very
long strings), header tables a little under the frame size (so that a failed
task's copy, with our headers added, may be over it), bodies up to 4 MiB,
bodies and headers that are not UTF-8. Some tasks succeed and some fail:
--run tests/task_command.py, or a Python work() that raises with the task's
own text in its error (surrogates and all), --attempts 2 --retry-delay 0.1.

Whatever they hold, each task ends done or parked in QUEUE.dead, within
SETTLE seconds: none looping, none lost, none twice; the worker never loses
its connection over a message (the broker lists one connection for it
throughout, and it says Waiting once), and no traceback of ours.

Seeded: FOREIGN_SEED=<seed> FOREIGN_RUNS=1 replays a run (the seed is in the
report line and in every failure); FOREIGN_RUNS=50 searches longer.
"""

import collections
import contextlib
import dataclasses
import datetime
import decimal
import random
import struct
import subprocess
import time

import pika
import pika.data
import pika.frame
import pytest

from brokers import connection_names, ready_count, wait_until
from corners import accounting, done_and_received, queued, replay, seeds, shorten, tail, tracebacks, waiting
from scripts import WAITING, Worker, interpreter
from test_real_work import run_option, worker_with_work

FIRST_SEED, RUNS = seeds("FOREIGN_SEED", "FOREIGN_RUNS", 2)
ATTEMPTS = 2
OPTIONS = ("--attempts", str(ATTEMPTS), "--retry-delay", "0.1")
SETTLE = 30  # s for every task to be done or parked
HEADERS = ("x-delivery-count", "attempts", "first-failed-at", "failed-at", "parked-at", "error", "x-death",
           "x-first-death-queue", "x-last-death-reason", "their-own")
FRAME_MAX = pika.ConnectionParameters.DEFAULT_FRAME_MAX  # the broker's default too: 131072
TABLE_BUDGET = 100_000  # bytes of headers in an ordinary message: well within a frame
# Words in the worker's stderr that say its connection was lost (today's, and pika's own).
LOST = ("lost the connection", "Stream connection lost", "FRAME_ERROR", "retrying in")

# A Python work() of another team's: it fails for a task that does not say
# "echo", with the task's own text (its first 100 bytes, surrogates for what
# is not UTF-8) in its error.
FOREIGN_WORK = '''def work(body):
    """Another team's work: "echo ..." is done; anything else fails, saying what it was."""
    if not body.startswith(b"echo"):
        raise ValueError(f"cannot do {body[:100].decode('utf-8', 'surrogateescape')}")
'''


class RawLongString(bytes):
    """A longstr ('S') as it is on the wire, UTF-8 or not, as other clients may send one."""


@contextlib.contextmanager
def encoding_as_other_clients_do():
    """pika sends no double ('d') and no longstr that is not UTF-8; Java's and
    .NET's clients do. Our publishing client (only) encodes them so, for as
    long as it publishes."""
    plain = pika.data.encode_value

    def encode_value(pieces, value):
        if isinstance(value, float):
            pieces.append(struct.pack(">cd", b"d", value))
            return 9
        if isinstance(value, RawLongString):
            pieces += [struct.pack(">cI", b"S", len(value)), bytes(value)]
            return 5 + len(value)
        return plain(pieces, value)

    pika.data.encode_value = encode_value
    try:
        yield
    finally:
        pika.data.encode_value = plain


def table_size(headers):
    with encoding_as_other_clients_do():
        pieces = []
        return pika.data.encode_table(pieces, headers)


def header_value(rng, depth=0):
    kind = rng.choice(["str", "bytes", "raw", "int", "negative", "bool", "float", "decimal", "datetime", "none",
                       "list", "table", "long"])
    if kind in ("list", "table") and depth >= 2:
        kind = "str"
    return {
        "str": lambda: rng.choice(["3", "", "2024-01-01T00:00:00Z", "caf\u00e9 \u2603", "exit status 3"]),
        "bytes": lambda: rng.choice([b"3", b"\xff\xfe", b"", b"\x00"]),
        "raw": lambda: RawLongString(rng.choice([b"\xff\xfe3", b"caf\xe9", b"\xed\xa0\x80"])),
        "int": lambda: rng.choice([0, 1, 3, 2**31, 2**62]),
        "negative": lambda: rng.choice([-1, -3, -2**40]),
        "bool": lambda: rng.choice([True, False]),
        # Not NaN nor infinity: RabbitMQ (Erlang) cannot decode them, and closes the publisher's connection.
        "float": lambda: rng.choice([1.5, -0.0, 1e300, 2.5e-300]),
        "decimal": lambda: decimal.Decimal(rng.choice(["1.5", "-3", "0.001", "7"])),
        "datetime": lambda: datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=rng.randrange(10**8)),
        "none": lambda: None,
        "list": lambda: [header_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        "table": lambda: {f"k{i}": header_value(rng, depth + 1) for i in range(rng.randint(0, 3))},
        "long": lambda: "y" * rng.choice([1000, 20_000, 60_000]),
    }[kind]()


def random_headers(rng):
    names = rng.sample(HEADERS, rng.randint(0, 5))
    if rng.random() < 0.2:
        names.append(RawLongString(b"not-utf-8-\xff"))  # a key that is not UTF-8 (pika's keys are bytes or str)
    headers = {bytes(name) if isinstance(name, RawLongString) else name: header_value(rng) for name in names}
    while table_size(headers) > TABLE_BUDGET:
        headers.pop(next(iter(headers)))
    return headers


def near_frame_max(rng, body):
    """Headers whose content header frame is `margin` bytes under frame_max:
    a failed task's copy, with our headers added, may be over it."""
    margin = rng.randrange(0, 300)
    headers = {"their-own": "z"}
    frame = len(pika.frame.Header(1, len(body), pika.BasicProperties(headers=headers, delivery_mode=2)).marshal())
    headers["their-own"] = "z" * (FRAME_MAX - margin - frame + 1)
    return headers, margin


@dataclasses.dataclass
class Message:
    body: bytes
    headers: dict
    redelivered: bool  # taken and given back by another consumer first: the broker marks it redelivered
    what: str

    def __str__(self):
        return (f"{self.what}: body {self.body[:30]!r}{'...' if len(self.body) > 30 else ''} ({len(self.body)} bytes)"
                f"{', redelivered' if self.redelivered else ''}, headers "
                + ", ".join(f"{k!r}: {type(v).__name__}" for k, v in self.headers.items()))


def body(rng, i):
    """(what it is, the body) of an ordinary message: done or failing, text or not, with a NUL."""
    ok, fails = f"echo {i}".encode(), f"nope {i}".encode()
    return rng.choice([
        ("done", ok), ("fails", fails), ("not UTF-8", ok + b" \xff\xfe"), ("not UTF-8", b"\xff\xfe " + ok),
        ("NUL", ok + b" a\x00b"),
    ])


def messages_for(rng):
    """Some of the corners (a redelivery whose x-delivery-count is not a
    number, a failing task near frame_max, a failing task whose error holds
    what is not UTF-8, a double among the headers of a failing task, a big
    body), at least one, and ordinary messages of every kind, in a random order (a
    redelivered one goes first: publish())."""
    corners = [
        Message(b"echo redelivered", {"x-delivery-count": rng.choice(["3", b"3", [1], {"n": 1},
                                                                       datetime.datetime(2024, 1, 1)])},
                True, "a redelivery, x-delivery-count not a number"),
        Message(b"nope near frame_max", {}, False, "failing, its headers near frame_max"),
        Message(b"\xff\xfe failing", random_headers(rng), False, "failing, its text not UTF-8"),
        Message(b"nope with a double", {"their-own": rng.choice([1.5, 1e300]), **random_headers(rng)}, False,
                "failing, a double among its headers"),
        # Over 128 KiB: too long for one argument of --run's command (it fails), and up to 4 MiB.
        Message(rng.choice([b"echo big ", b"nope big "]) + b"x" * rng.choice([100_000, 200_000, 1 << 20, 4 << 20]),
                random_headers(rng), rng.random() < 0.3, "big"),
    ]
    corners[1].headers, margin = near_frame_max(rng, corners[1].body)
    corners[1].what += f" (less {margin} bytes)"
    corners = rng.sample(corners, rng.randint(1, len(corners)))
    ordinary = []
    for i in range(rng.randint(8, 16)):
        what, text = body(rng, i)
        ordinary.append(Message(text, random_headers(rng), rng.random() < 0.3, what))
    return rng.sample(corners + ordinary, len(corners) + len(ordinary))


def publish(url, queue, quorum, messages):
    """As another client: the queue declared as the tutorial declares it, the
    messages to be redelivered published first, taken and given back by a
    consumer that closes without acking, then the rest; each confirmed."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"} if quorum else None)
        channel.confirm_delivery()
        first = [m for m in messages if m.redelivered]
        with encoding_as_other_clients_do():
            for message in first:
                channel.basic_publish("", queue, message.body, pika.BasicProperties(
                    headers=message.headers, delivery_mode=2))
            taker = connection.channel()
            for _ in first:
                taker.basic_get(queue, auto_ack=False)
            taker.close()  # unacked: back in the queue, redelivered
            for message in messages:
                if not message.redelivered:
                    channel.basic_publish("", queue, message.body, pika.BasicProperties(
                        headers=message.headers, delivery_mode=2))
    finally:
        connection.close()


def start(broker, queue, tmp_path, python_work, options):
    if python_work:
        script = worker_with_work(tmp_path, FOREIGN_WORK)
        return Worker(broker.url, queue, argv=[*interpreter(script), "--url", broker.url, "--queue", queue, *options])
    return Worker(broker.url, queue, *run_option(), *options)


@pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run-{run}")
def test_messages_from_other_clients_end_done_or_parked_and_keep_the_connection(
    broker, queue, tmp_path, report, run
):
    seed = FIRST_SEED + run
    rng = random.Random(seed)
    python_work, quorum, prefetch = rng.random() < 0.5, rng.random() < 0.3, rng.choice([1, 2, 5, 10, 50])
    messages = messages_for(rng)
    case = (f"seed {seed} (replay: {replay('FOREIGN_SEED', 'FOREIGN_RUNS', seed)}): "
            f"{'a Python work()' if python_work else '--run task_command.py'}, --prefetch {prefetch}"
            f"{', --queue-type quorum' if quorum else ''}, {len(messages)} messages")
    options = [*OPTIONS, "--prefetch", str(prefetch), *(["--queue-type", "quorum"] if quorum else [])]
    publish(broker.url, queue, quorum, messages)
    worker = start(broker, queue, tmp_path, python_work, options)
    worker.wait_ready()
    sent = collections.Counter(m.body for m in messages)
    retry_queue = f"{queue}.retry.0.1s"
    connections = []  # how many the broker lists for the worker, at each look

    def settled():
        connections.append(connection_names(broker).count(f"worker.py (pid {worker.process.pid})"))
        done, _ = done_and_received(worker.lines)
        return (ready_count(broker.url, queue) == 0 and waiting(broker.url, retry_queue) == 0
                and sum(done.values()) + waiting(broker.url, f"{queue}.dead") >= len(messages))

    problems = []
    began = time.monotonic()
    try:
        wait_until(settled, SETTLE, "every task done or parked")
    except TimeoutError:
        problems.append(f"not every task done or parked within {SETTLE} s")
    took = time.monotonic() - began
    worker.terminate()
    try:
        code = worker.wait_exit(15)
    except subprocess.TimeoutExpired:
        code = None  # said below; the suite kills it
    done, received = done_and_received(worker.lines)
    left, parked = queued(broker.url, queue, [retry_queue])
    if left:
        problems.append(f"{sum(left.values())} task(s) still in the queue, neither done nor parked: {shorten(left)}")
    problems += accounting(sent, done, left, parked, exactly_once=True)
    looping = {body: n for body, n in received.items() if n > ATTEMPTS * sent[body]}
    if looping:
        problems.append(f"{len(looping)} task(s) taken more often than {ATTEMPTS} attempts allow (a loop): "
                        + ", ".join(f"{body[:40]!r} x{n}" for body, n in list(looping.items())[:4]))
    lost = [line for line in worker.errors if any(words in line for words in LOST)]
    if lost or worker.lines.count(WAITING) != 1 or any(n != 1 for n in connections):
        problems.append(f"lost its connection: {len(lost)} line(s) like {lost[:1]}, said Waiting "
                        f"{worker.lines.count(WAITING)} times, the broker listed {sorted(set(connections))} connection(s)")
    # The traceback of the user's work() is theirs, printed from their callback down
    # (failures.users_traceback): a frame of the package in one is ours.
    of_ours = [t for t in tracebacks(worker.errors)
               if not t.frames or any("workqueue" in frame.replace("\\", "/").split("/") for frame in t.frames)]
    problems += [f"a traceback of ours: {t}" for t in of_ours[:2]]
    if code != 0:
        problems.append(f"exit code {code} after a SIGTERM (None: still running 15 s later)")
    report(f"{case}: {'; '.join(problems) or 'ok'} ({took:.1f} s)")
    assert not problems, (f"{case}:\n  " + "\n  ".join(problems) + "\n  the messages:\n    "
                          + "\n    ".join(map(str, messages)) + "\n  the worker's stderr:\n" + tail(worker.errors))
