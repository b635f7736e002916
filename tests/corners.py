"""What the searching tests (test_random_stops.py, test_foreign_messages.py)
share: the seed of a randomised run, a worker whose stdout and stderr are one
stream (so that "no task taken after the stop" can be read in the order the
worker wrote it), the tasks a worker did, and the queues' contents counted
once it has left."""

import ast
import collections
import os
import random
import re

import pika

from brokers import consumer_count, wait_until
from scripts import Worker, command

TRACEBACK = "Traceback (most recent call last):"
RECEIVED = " [x] Received "
DONE = " [x] Done"
# The note after a redelivered task's text (tasks.redelivery_note).
REDELIVERY_NOTE = re.compile(r" \(redelivered(, delivery \d+)?\)$")


def seeds(variable, runs_variable, default_runs):
    """(first seed, runs): from the environment (VARIABLE=seed, RUNS_VARIABLE=n)
    to replay a run or to search longer; else a fresh seed, so that each run of
    the suite searches somewhere new, and prints where."""
    first = os.environ.get(variable)
    runs = int(os.environ.get(runs_variable) or default_runs)
    return (int(first) if first else random.SystemRandom().randrange(10**6)), runs


def replay(variable, runs_variable, seed):
    return f"{variable}={seed} {runs_variable}=1"


def merged_worker(url, queue, *options):
    """./worker.py with its stderr on its stdout: one stream, in the order the
    worker wrote it (worker.lines has both; worker.errors nothing). The shell
    execs the worker: its pid, and the signals sent to it, are the worker's."""
    return Worker(url, queue, argv=["/bin/sh", "-c", 'exec "$@" 2>&1', "sh", *command("worker.py", url, queue, *options)])


def task_of(line):
    """The body of the task a ' [x] Received' line shows (output.shown: the repr
    of its text, or of its bytes), as bytes."""
    shown = REDELIVERY_NOTE.sub("", line[len(RECEIVED):])
    value = ast.literal_eval(shown)
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def done_and_received(lines):
    """(done, received): Counters of the task bodies whose ' [x] Received' a
    ' [x] Done' followed before the next task began (a --run command's output
    and the worker's stderr may come between), and of every one received."""
    done, received, current = collections.Counter(), collections.Counter(), None
    for line in lines:
        if line.startswith(RECEIVED):
            current = task_of(line)
            received[current] += 1
        elif line == DONE and current is not None:
            done[current] += 1
            current = None
    return done, received


class Traceback(collections.namedtuple("Traceback", "error frames")):
    """A traceback found in the output: its last line, and its "File ..." lines."""

    def __str__(self):
        return f"{self.error!r}, raised at {self.frames[-1] if self.frames else '?'}"

    @property
    def through_our_code(self):
        """A frame of worker.py or of the package: not Python's own start-up."""
        return any(re.search(r'[/\\](worker\.py|workqueue[/\\][^"]*)"', frame) for frame in self.frames)


def tracebacks(lines):
    """Each traceback in `lines`."""
    found = []
    for at in (i for i, line in enumerate(lines) if TRACEBACK in line):
        end = next((i for i in range(at + 1, len(lines)) if not lines[i].startswith(" ")), len(lines) - 1)
        found.append(Traceback(lines[end], [line.strip() for line in lines[at:end] if line.lstrip().startswith("File ")]))
    return found


def take_all(url, queue):
    """Every task waiting in `queue`, taken (acked) so that none is left: their
    bodies. A queue that does not exist holds none."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        try:
            waiting = channel.queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:  # 404: never declared
            return []
        bodies = []
        if waiting:
            channel.basic_qos(prefetch_count=1000)
            for method, _properties, body in channel.consume(queue, inactivity_timeout=10):
                if method is None:
                    break  # counted, then gone: a quorum queue's count is a moment old
                bodies.append(body)
                channel.basic_ack(method.delivery_tag)
                if len(bodies) == waiting:
                    break
            channel.cancel()
        return bodies
    finally:
        if connection.is_open:
            connection.close()


def queued(url, queue, retry_queues=(), timeout=30):
    """Once no worker consumes from `queue`, and the retry queues have handed
    their copies back: (left in the queue, parked in QUEUE.dead), Counters of
    bodies, all taken."""
    wait_until(lambda: consumer_count(url, queue) == 0, timeout, f"no consumer on {queue}")
    wait_until(lambda: all(waiting(url, name) == 0 for name in retry_queues), timeout,
               f"the retry queues {list(retry_queues)} to hand their tasks back")
    left = collections.Counter(take_all(url, queue))
    return left, collections.Counter(take_all(url, f"{queue}.dead"))


def waiting(url, queue):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def accounting(sent, done, left, parked, exactly_once):
    """What is wrong with where the tasks are: each sent is done, left in the
    queue or parked; with exactly_once, none is in two places (done and queued
    again, or done twice)."""
    found = done + left + parked
    problems = []
    lost = sent - found
    if lost:
        problems.append(f"{sum(lost.values())} task(s) lost, neither done nor queued nor parked: {shorten(lost)}")
    twice = found - sent
    if exactly_once and twice:
        problems.append(f"{sum(twice.values())} task(s) done and also queued, or done twice: {shorten(twice)}")
    return problems


def shorten(counter, most=8):
    items = counter.most_common(most)
    more = len(counter) - len(items)
    return ", ".join(f"{body[:60]!r} x{n}" for body, n in items) + (f", and {more} more" if more > 0 else "")


def tail(lines, count=25):
    return "\n".join(["(...)"] * (len(lines) > count) + [f"    {line[:300]}" for line in lines[-count:]])
