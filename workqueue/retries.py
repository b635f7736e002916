"""What becomes of a failed task: tried again after a delay that doubles,
then parked in NAME.dead with why in its headers. Never dropped, never in a
hot loop. Pure: the broker's part is in workqueue/retry_steps.py.

How (docs/real-work.md says why): the worker publishes a copy of the failed
task, with the attempts so far in its headers, to a delay queue of ours,
NAME.retry.<delay>s: one queue per delay, so that every task in it has the
same time to live and they expire in the order they came; an expired task is
dead-lettered back to NAME through the default exchange. At the last
attempt, the copy goes to NAME.dead instead. Only once the broker has
confirmed the copy is the original acked (and the failure said, now true),
so a failed task is always in one queue or another (and, if the worker dies
or is interrupted in between, in two: at least once).
"""

import dataclasses
import datetime

from workqueue import LONGEST_NAME

DEFAULT_ATTEMPTS = 5
DEFAULT_RETRY_DELAY = 1.0  # s before the second attempt; it doubles after each
MAX_ATTEMPTS = 20
MAX_DELAY = 86400.0  # s: a delay doubles up to a day

# The headers a failed task carries (shown as they are in the management UI).
ATTEMPTS = "attempts"  # attempts that failed, so far
ERROR = "error"  # why the last one failed, in words
FIRST_FAILED_AT = "first-failed-at"  # when the first failed (UTC, ISO 8601)
FAILED_AT = "failed-at"  # when the last failed
PARKED_AT = "parked-at"  # when it was parked: a parked task sent back starts its attempts anew
OURS = (ATTEMPTS, ERROR, FIRST_FAILED_AT, FAILED_AT, PARKED_AT)
# Set by the broker on delivery or dead-lettering; a copy we publish is a new message.
BROKER_HEADERS = (
    "x-delivery-count", "x-acquired-count", "x-death",
    "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange",
    "x-last-death-queue", "x-last-death-reason", "x-last-death-exchange",
)
# The properties a copy keeps. Not `expiration` (a copy must not expire in a
# delay queue before its turn, nor vanish from NAME.dead), nor `user_id`
# (the broker refuses one that is not the publishing connection's user).
KEPT_PROPERTIES = (
    "content_type", "content_encoding", "priority", "correlation_id", "reply_to",
    "message_id", "timestamp", "type", "app_id",
)


@dataclasses.dataclass(frozen=True)
class Retry:
    """Send the copy to `queue`, a delay queue: the task comes back in `delay` s."""

    queue: str
    arguments: dict
    headers: dict
    attempt: int  # the attempt that failed
    attempts: int  # of how many
    delay: float


@dataclasses.dataclass(frozen=True)
class Park:
    """Send the copy to `queue`, NAME.dead: the attempts are used up."""

    queue: str
    arguments: dict
    headers: dict
    attempt: int
    attempts: int


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    attempts: int = DEFAULT_ATTEMPTS
    first_delay: float = DEFAULT_RETRY_DELAY

    def delay(self, attempt):
        """The delay after failed attempt number `attempt` (1, 2, ...)."""
        return min(MAX_DELAY, self.first_delay * 2 ** (attempt - 1))

    def delays(self):
        return [self.delay(attempt) for attempt in range(1, self.attempts)]

    def after_failure(self, queue, quorum, headers, reason, now):
        """What to do with a task of `queue` (whose broker headers are
        `headers`) that has just failed for `reason` at `now` (a Unix time)."""
        attempt = attempts_made(headers) + 1
        failed = failure_headers(headers, attempt, reason, now)
        if attempt >= self.attempts:
            return Park(dead_queue(queue), dead_queue_arguments(), {**failed, PARKED_AT: timestamp(now)},
                        attempt, self.attempts)
        delay = self.delay(attempt)
        return Retry(retry_queue(queue, delay), retry_queue_arguments(queue, delay, quorum), failed,
                     attempt, self.attempts, delay)

    def name_too_long(self, queue):
        """Why `queue` cannot have its delay queues and NAME.dead, or None."""
        return too_long(queue, [dead_queue(queue), *(retry_queue(queue, d) for d in self.delays())])


def dead_queue_too_long(queue):
    """Why `queue` cannot have its NAME.dead, or None."""
    return too_long(queue, [dead_queue(queue)])


def too_long(queue, names):
    """Why `queue` cannot have the queues `names` made from its name, or None."""
    longest = max(names, key=_size)
    if _size(longest) > LONGEST_NAME:
        return f"queue {queue!r} has too long a name for its queue {longest!r} (at most {LONGEST_NAME} bytes)"
    return None


def attempts_made(headers):
    """The attempts that failed before, from a task's headers: 0 for a new
    task, and for a parked one sent back (it carries PARKED_AT) to be tried
    anew once its cause is fixed."""
    headers = headers or {}
    made = headers.get(ATTEMPTS)
    if PARKED_AT in headers or isinstance(made, bool) or not isinstance(made, int) or made < 0:
        return 0
    return made


def failure_headers(headers, attempt, reason, now):
    """The copy's headers: the task's own, without the broker's, and ours."""
    headers = headers or {}
    kept = {k: v for k, v in headers.items() if k not in BROKER_HEADERS and k not in OURS}
    first = headers.get(FIRST_FAILED_AT) if attempt > 1 else None
    return {
        **kept,
        ATTEMPTS: attempt,
        ERROR: reason,
        FIRST_FAILED_AT: first if isinstance(first, str) else timestamp(now),
        FAILED_AT: timestamp(now),
    }


def copy_properties(properties, headers):
    """The properties of the copy, from the task's (a dict of pika's
    BasicProperties' fields): persistent, with `headers`."""
    kept = {name: properties.get(name) for name in KEPT_PROPERTIES if properties.get(name) is not None}
    return {**kept, "delivery_mode": 2, "headers": headers}


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


def timestamp(now):
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# What the worker says of a failed task, on stderr.
def failure_line(task, reason, outcome):
    """`task` as shown (its repr); `outcome` a Retry, a Park, or None with
    --no-ack (the broker forgot the task when it delivered it)."""
    if outcome is None:
        return f"task {task} failed: {reason}; it is gone (--no-ack: the broker forgot it when it was delivered)"
    if isinstance(outcome, Park):
        return f"{_tried(task, reason, outcome)}; parked in queue {outcome.queue!r}"
    return f"{_tried(task, reason, outcome)}; trying again in {outcome.delay:g} s"


def unconfirmed_line(task, reason, outcome):
    """The connection ended between the copy's publish and its confirm: the
    broker delivers the task again, and may hold the copy as well."""
    return (f"{_tried(task, reason, outcome)}; the connection ended before the broker confirmed its copy "
            f"in queue {outcome.queue!r}: the task goes back to the queue, and may be in both (at least once)")


def _tried(task, reason, outcome):
    return f"task {task} failed: {reason} (attempt {outcome.attempt} of {outcome.attempts})"


def _milliseconds(seconds):
    return max(1, round(seconds * 1000))


def _seconds(delay):
    """A delay as its queue's name shows it: 1, 0.5, 86400."""
    return f"{_milliseconds(delay) / 1000:.3f}".rstrip("0").rstrip(".")


def _size(name):
    return len(name.encode("utf-8", "surrogateescape"))
