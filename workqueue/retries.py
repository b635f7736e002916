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

DEFAULT_ATTEMPTS = 5
DEFAULT_RETRY_DELAY = 1.0  # s before the second attempt; it doubles after each
MAX_ATTEMPTS = 20
MAX_DELAY = 86400.0  # s: a delay doubles up to a day
# Where the broker's policy (rabbitmq/definitions/policies.json) sends a task
# that has used up its deliveries: the queue NAME.dead, bound by NAME.
DEAD_LETTER_EXCHANGE = "work-queues.dead"

# The headers a failed task carries (shown as they are in the management UI).
ATTEMPTS = "attempts"  # attempts that failed, so far
ERROR = "error"  # why the last one failed, in words
FIRST_FAILED_AT = "first-failed-at"  # when the first failed (UTC, ISO 8601)
FAILED_AT = "failed-at"  # when the last failed
PARKED_AT = "parked-at"  # when it was parked: a parked task sent back starts its attempts anew
TRIMMED = "trimmed"  # the headers of the task's own that its copy could not carry
OURS = (ATTEMPTS, ERROR, FIRST_FAILED_AT, FAILED_AT, PARKED_AT, TRIMMED)
DELIVERY_COUNT = "x-delivery-count"  # a quorum queue's count of a task's earlier deliveries
# Set by the broker on delivery or dead-lettering; a copy we publish is a new message.
BROKER_HEADERS = (
    DELIVERY_COUNT, "x-acquired-count", "x-death",
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


# Reading a task's headers, which any client may have set to anything: a
# value of the wrong type counts as absent.
def attempts_made(headers):
    """The attempts that failed before: 0 for a new task, and for a parked
    one sent back (it carries PARKED_AT) to be tried anew once its cause is fixed."""
    if not headers or PARKED_AT in headers:
        return 0
    return _count(headers.get(ATTEMPTS)) or 0


def earlier_deliveries(headers):
    """A quorum queue's count of a task's earlier deliveries, or None."""
    return _count(headers.get(DELIVERY_COUNT)) if headers else None


def odd_headers(headers):
    """The headers we read whose value we cannot take (so count as absent),
    as (name, value): to be said once."""
    if not headers:
        return []
    odd = [(name, headers[name]) for name in (ATTEMPTS, DELIVERY_COUNT)
           if name in headers and _count(headers[name]) is None]
    if FIRST_FAILED_AT in headers and not isinstance(headers[FIRST_FAILED_AT], str):
        odd.append((FIRST_FAILED_AT, headers[FIRST_FAILED_AT]))
    return odd


def _count(value):
    """A count: an int (not a bool) from 0 to 2**31 - 1 (what AMQP's signed
    int carries: one past it, copied into our headers, would not encode), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def failure_headers(headers, attempt, reason, now):
    """The copy's headers: the task's own, without the broker's, and ours."""
    headers = headers or {}
    kept = {k: v for k, v in headers.items() if k not in BROKER_HEADERS and k not in OURS}
    first = headers.get(FIRST_FAILED_AT) if attempt > 1 else None
    return {
        **kept,
        ATTEMPTS: attempt,
        ERROR: encodable(reason),
        FIRST_FAILED_AT: first if isinstance(first, str) else timestamp(now),
        FAILED_AT: timestamp(now),
    }


def encodable(text):
    """Text that encodes as UTF-8: an error's text may hold a file name's
    undecodable bytes (surrogates), which pika cannot encode."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fitted(headers, size, limit):
    """`headers` trimmed until size(headers) <= limit: the task's own headers
    are dropped, largest first (ours are small), and TRIMMED names them.
    size(headers) is the encoded size, and may raise for a value that cannot
    be encoded (dropped as well). (headers, the names dropped)."""
    def fits(candidate):
        try:
            return size(candidate) <= limit
        except Exception:  # pika raises several kinds for a value it cannot encode
            return False

    if fits(headers):
        return headers, []
    theirs = sorted((k for k in headers if k not in OURS), key=lambda k: -len(repr(headers[k])))
    dropped = []
    for name in theirs:
        dropped.append(name)
        kept = {k: v for k, v in headers.items() if k not in dropped}
        trimmed = {**kept, TRIMMED: names(dropped)}
        if fits(trimmed):
            return trimmed, dropped
    ours = {k: v for k, v in headers.items() if k in OURS}
    return {**ours, TRIMMED: names(dropped)}, dropped


def names(dropped):
    """Header names, as the header `trimmed` lists them."""
    text = ", ".join(repr(n) for n in dropped)
    return encodable(text if len(text) <= 1000 else text[:999] + "\u2026")


def copy_properties(properties, headers):
    """The properties of the copy, from the task's (a dict of pika's
    BasicProperties' fields): persistent, with `headers`."""
    kept = {name: properties.get(name) for name in KEPT_PROPERTIES if properties.get(name) is not None}
    return {**kept, "delivery_mode": 2, "headers": headers}


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


def timestamp(now):
    import datetime  # here: new_task.py starts without it

    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_size(name):
    return len(name.encode("utf-8", "surrogateescape"))


def _milliseconds(seconds):
    return max(1, round(seconds * 1000))


def _seconds(delay):
    """A delay as its queue's name shows it: 1, 0.5, 86400."""
    return f"{_milliseconds(delay) / 1000:.3f}".rstrip("0").rstrip(".")
