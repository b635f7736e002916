"""What becomes of a failed task, and the queues that holds it: tried again
after a delay that doubles, then parked in NAME.dead with why in its
headers. Never dropped, never in a hot loop. Pure: workqueue/life.py decides
when, workqueue/copies.py sends the copy; the topology declares NAME.dead
from the names here.

How (docs/real-work.md says why): the worker publishes a copy of the failed
task, with the attempts so far in its headers, to a delay queue of ours,
NAME.retry.<delay>s: one queue per delay, so that every task in it has the
same time to live and they expire in the order they came; an expired task is
dead-lettered back to NAME through the default exchange. At the last
attempt, the copy goes to NAME.dead instead. Only once the broker has
confirmed the copy is the original acked, so a failed task is always in one
queue or another (and, if the worker dies in between, in two: at least once).
"""

from typing import NamedTuple

from workqueue import LONGEST_NAME
from workqueue.headers import PARKED_AT, attempts_made, failure_headers, timestamp

DEFAULT_ATTEMPTS = 5
DEFAULT_RETRY_DELAY = 1.0  # s before the second attempt; it doubles after each
MAX_ATTEMPTS = 20
MAX_DELAY = 86400.0  # s: a delay doubles up to a day
# Where the broker's policy (rabbitmq/definitions/policies.json) sends a task
# that has used up its deliveries: the queue NAME.dead, bound by NAME.
DEAD_LETTER_EXCHANGE = "work-queues.dead"

class Retry(NamedTuple):
    """Send the copy to `queue`, a delay queue: the task comes back in `delay` s."""

    queue: str
    arguments: dict
    headers: dict
    attempt: int  # the attempt that failed
    attempts: int  # of how many
    delay: float


class Park(NamedTuple):
    """Send the copy to `queue`, NAME.dead: the attempts are used up."""

    queue: str
    arguments: dict
    headers: dict
    attempt: int
    attempts: int


class RetryPolicy(NamedTuple):
    attempts: int = DEFAULT_ATTEMPTS
    first_delay: float = DEFAULT_RETRY_DELAY

    def delay(self, attempt):
        """The delay after failed attempt number `attempt` (1, 2, ...)."""
        return min(MAX_DELAY, self.first_delay * 2 ** (attempt - 1))

    def delays(self):
        return [self.delay(attempt) for attempt in range(1, self.attempts)]

    def after_failure(self, queue, quorum, headers, reason, now):
        """What to do with a task of `queue` (its headers as delivered) that
        has just failed for `reason` at `now` (a Unix time)."""
        attempt = attempts_made(headers) + 1
        if attempt >= self.attempts:
            return self.park(queue, headers, reason, now, attempt)
        delay = self.delay(attempt)
        return Retry(retry_queue(queue, delay), retry_queue_arguments(queue, delay, quorum),
                     failure_headers(headers, attempt, reason, now), attempt, self.attempts, delay)

    def park(self, queue, headers, reason, now, attempt):
        """Park it in NAME.dead (its attempts used up, or its delay queue would not take it)."""
        failed = failure_headers(headers, attempt, reason, now)
        return Park(dead_queue(queue), dead_queue_arguments(), {**failed, PARKED_AT: timestamp(now)},
                    attempt, self.attempts)

    def name_too_long(self, queue):
        """Why `queue` cannot have its delay queues and NAME.dead, or None."""
        return too_long(queue, [dead_queue(queue), *(retry_queue(queue, d) for d in self.delays())])


def dead_queue_too_long(queue):
    """Why `queue` cannot have its NAME.dead, or None."""
    return too_long(queue, [dead_queue(queue)])


def too_long(queue, names):
    """Why `queue` cannot have the queues `names` made from its name, or None."""
    longest = max(names, key=name_size)
    if name_size(longest) > LONGEST_NAME:
        return f"queue {queue!r} has too long a name for its queue {longest!r} (at most {LONGEST_NAME} bytes)"
    return None


# The names of a queue's retry queues, and how they are declared.
def retry_queue(queue, delay):
    return f"{queue}.retry.{_seconds(delay)}s"


def retry_queue_arguments(queue, delay, quorum):
    """A delay queue: every task in it expires after `delay` and goes back to
    `queue` through the default exchange. These arguments overrule a policy's
    dead-letter exchange (rabbitmq/definitions/policies.json matches these
    queues too). Quorum, for a quorum `queue`: replicated as it is, and its
    dead-lettering at least once (which needs reject-publish)."""
    arguments = {
        "x-message-ttl": _milliseconds(delay),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
    }
    if quorum:
        arguments.update({
            "x-queue-type": "quorum",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        })
    return arguments


def dead_queue(queue):
    return f"{queue}.dead"


def dead_queue_arguments():
    """As the scripts have always declared NAME.dead (where the policy's
    delivery limit parks a task that kills its workers): a quorum queue."""
    return {"x-queue-type": "quorum"}


def name_size(name):
    return len(name.encode("utf-8", "surrogateescape"))


def _milliseconds(seconds):
    return max(1, round(seconds * 1000))


def _seconds(delay):
    """A delay as its queue's name shows it: 1, 0.5, 86400."""
    return f"{_milliseconds(delay) / 1000:.3f}".rstrip("0").rstrip(".")
