"""A failed task's copy (workqueue/copies.py, workqueue/retries.py) made
from any message another client may have published: whatever its headers
hold, the copy encodes, fits in one frame, and carries ours."""

import datetime

import pika
from hypothesis import given, settings, strategies as st
from pika import frame

from workqueue import headers, retries
from workqueue.copies import copy_properties

FRAME_MAX = 131072  # RabbitMQ's default
NOW = 1_700_000_000.0

# What pika decodes from the wire: every AMQP field type, nested.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=50), st.binary(max_size=50),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6),
    st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1),
                 timezones=st.just(datetime.timezone.utc)),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4)), max_leaves=10)
names = st.sampled_from(["attempts", "x-delivery-count", "first-failed-at", "parked-at", "error", "x-death",
                         "trimmed", "other"]) | st.text(min_size=1, max_size=20)
tables = st.dictionaries(names, values, max_size=8)
# Big ones: near the frame size, or over it.
big = st.dictionaries(st.text(min_size=1, max_size=10),
                      st.builds(lambda c, n: c * n, st.characters(), st.integers(20_000, 70_000)), max_size=4)


def encoded_size(properties, body_size=10):
    return len(frame.Header(1, body_size, properties).marshal())


@settings(max_examples=200, deadline=None)
@given(st.one_of(tables, big), st.text(max_size=200), st.integers(1, 5))
def test_any_task_s_copy_encodes_fits_and_says_why(theirs, reason, attempt):
    reason = reason + "\udcff"  # a file name's undecodable byte, as os.fsdecode gives it
    task = pika.BasicProperties(headers=theirs, content_type="text/plain", expiration="60000")
    plan = retries.RetryPolicy(attempts=3).after_failure("q", False, theirs, reason, NOW)
    copy, dropped = copy_properties(task, 10, plan.headers, FRAME_MAX)
    assert encoded_size(copy) <= FRAME_MAX
    assert copy.delivery_mode == 2 and copy.expiration is None
    assert copy.headers["error"].startswith(headers.encodable(reason)[:10])
    assert isinstance(copy.headers["attempts"], int)
    if dropped:
        assert set(dropped).isdisjoint(copy.headers) and "trimmed" in copy.headers


def test_a_copy_that_fits_keeps_the_task_s_headers():
    theirs = {"customer": "acme", "x-death": [{"count": 1}], "x-delivery-count": 3}
    task = pika.BasicProperties(headers=theirs, correlation_id="c1")
    plan = retries.RetryPolicy().after_failure("q", False, theirs, "exit status 3", NOW)
    copy, dropped = copy_properties(task, 10, plan.headers, FRAME_MAX)
    assert dropped == [] and copy.correlation_id == "c1"
    assert copy.headers["customer"] == "acme"
    assert "x-death" not in copy.headers and "x-delivery-count" not in copy.headers  # the broker's own


def test_headers_over_the_frame_are_left_out_largest_first_and_named():
    theirs = {"small": "s", "huge": "h" * 120_000, "big": "b" * 20_000}
    task = pika.BasicProperties(headers=theirs)
    plan = retries.RetryPolicy().after_failure("q", False, theirs, "exit status 3", NOW)
    copy, dropped = copy_properties(task, 10, plan.headers, FRAME_MAX)
    assert dropped == ["huge"]
    assert copy.headers["trimmed"] == "'huge'" and copy.headers["big"] == "b" * 20_000


def test_odd_values_of_the_headers_we_read_count_as_absent():
    odd = {"attempts": "3", "x-delivery-count": True, "first-failed-at": 5}
    for huge in (2**31, 2**63 - 1, -1):  # a double decoded as an int, say: one more would not encode
        assert headers.attempts_made({"attempts": huge}) == 0 and headers.earlier_deliveries({"x-delivery-count": huge}) is None
    assert headers.attempts_made(odd) == 0
    assert headers.earlier_deliveries(odd) is None
    assert [name for name, _ in headers.odd_headers(odd)] == ["attempts", "x-delivery-count", "first-failed-at"]
    assert headers.odd_headers({"attempts": 2, "x-delivery-count": 0, "first-failed-at": "2024"}) == []
    plan = retries.RetryPolicy().after_failure("q", False, odd, "exit status 3", NOW)
    assert plan.attempt == 1 and plan.headers["first-failed-at"] == headers.timestamp(NOW)
