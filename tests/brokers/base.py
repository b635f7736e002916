"""What every broker shares: where things are, the Broker base class with
the verbs common to every kind, and the small waits the tests use."""

import contextlib
import random
import socket
import time
from pathlib import Path

import pika

from .counts import parse_queue_counts

REPOSITORY = Path(__file__).resolve().parent.parent.parent
# The broker policy that parks poison tasks (see the README), as users apply it.
POLICIES = REPOSITORY / "rabbitmq" / "definitions" / "policies.json"
LOOPBACK = "127.0.0.1"


class NoBroker(Exception):
    """The kind of broker asked for cannot be had here; the message says why."""


def free_port():
    """A port free now, below the range from which the kernel gives ports to
    outgoing connections and to bind(0) (from 32768 by default; rabbitmqctl's
    35672-35682 are above too): while a broker of ours is down, no client's
    connection and no other test run can take its port, which the broker
    then could not listen on again (seen here as eaddrinuse). Free on every
    address: partitionable clusters listen on loopback addresses of their own
    (a bind only, nothing listens)."""
    while True:
        port = random.randrange(10000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
        return port


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def accepts_amqp(url):
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
        return True
    except (pika.exceptions.AMQPError, OSError):
        return False


# A durable queue must be on disk before a test kills its broker. RabbitMQ 3.x
# keeps queue definitions in Mnesia, whose transaction log reaches the disk a
# moment after the declare returns: a queue declared just before a SIGKILL can
# be gone after the restart, tasks and all (seen here, about one crash in ten).
# disk_log:sync writes that log now. Where the metadata store is Khepri (the
# default from 4.2 on), the declare returns once the definition is in Ra's
# write-ahead log, written and synced: there is nothing to flush.
FLUSH_DEFINITIONS = (
    "case catch rabbit_khepri:is_enabled() of"
    " true -> khepri; _ -> disk_log:sync(latest_log) end."
)


class Broker:
    """What every kind of broker does the same way. A kind has node, port,
    start, stop, crash, running, and rabbitmqctl."""

    host = LOOPBACK

    @property
    def url(self):
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    def wait_accepts_amqp(self, timeout=60):
        wait_until(lambda: accepts_amqp(self.url), timeout, f"{self.node} to accept AMQP")

    def restart(self):
        self.stop()
        return self.start()

    def queue_counts(self, queue):
        listing = self.rabbitmqctl("-s", "list_queues", "name", "messages_ready", "messages_unacknowledged")
        return parse_queue_counts(listing, queue)

    @contextlib.contextmanager
    def frozen(self):
        """The broker stops answering, as a hung one does, with every
        connection left open: its process is paused, then resumed."""
        self.pause()
        try:
            yield self
        finally:
            self.resume()

    def flush_definitions(self):
        answer = self.rabbitmqctl("eval", FLUSH_DEFINITIONS).strip()
        assert answer in ("ok", "khepri"), f"flushing queue definitions on {self.node}: {answer}"
