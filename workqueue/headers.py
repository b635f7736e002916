"""A task's headers, which any client may have set to anything: those the
worker reads (a value of the wrong type counts as absent, and is said
once), and those of a failed task's copy (the task's own, the broker's
left out, ours added, all fitted into one frame)."""

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


def timestamp(now):
    import datetime  # here: new_task.py starts without it

    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
