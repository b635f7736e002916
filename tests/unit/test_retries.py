"""What becomes of a failed task: the delays, the attempts read from its
headers, the headers of its copy, the queues, and the words."""

import pytest

from workqueue import headers, retries
from workqueue.retries import Park, Retry, RetryPolicy

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
LATER = NOW + 15


def test_the_default_is_five_attempts_one_second_doubling():
    policy = RetryPolicy()
    assert (policy.attempts, policy.delays()) == (5, [1, 2, 4, 8])


def test_delays_double_up_to_a_day():
    assert RetryPolicy(attempts=20, first_delay=60).delays()[-3:] == [86400, 86400, 86400]
    assert RetryPolicy(attempts=4, first_delay=0.25).delays() == [0.25, 0.5, 1]


def test_a_new_task_that_fails_goes_to_the_first_delay_queue():
    outcome = RetryPolicy().after_failure("jobs", False, None, "exit status 3", NOW)
    assert outcome == Retry(
        queue="jobs.retry.1s",
        arguments={"x-message-ttl": 1000, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs"},
        headers={"attempts": 1, "error": "exit status 3", "first-failed-at": "2027-01-15T08:00:00Z",
                 "failed-at": "2027-01-15T08:00:00Z"},
        attempt=1, attempts=5, delay=1,
    )


def test_each_failure_goes_one_delay_queue_further_then_to_the_dead_queue():
    policy, headers, queues = RetryPolicy(), {"x-delivery-count": 0}, []
    for _ in range(5):
        outcome = policy.after_failure("jobs", False, headers, "exit status 3", NOW)
        queues.append(outcome.queue)
        headers = {**outcome.headers, "x-death": [{"count": 1}], "x-first-death-queue": outcome.queue}
    assert queues == ["jobs.retry.1s", "jobs.retry.2s", "jobs.retry.4s", "jobs.retry.8s", "jobs.dead"]
    assert isinstance(outcome, Park) and (outcome.attempt, outcome.attempts) == (5, 5)
    assert outcome.arguments == {"x-queue-type": "quorum"}
    assert outcome.headers == {"attempts": 5, "error": "exit status 3", "first-failed-at": "2027-01-15T08:00:00Z",
                               "failed-at": "2027-01-15T08:00:00Z", "parked-at": "2027-01-15T08:00:00Z"}


def test_one_attempt_parks_at_the_first_failure():
    assert isinstance(RetryPolicy(attempts=1).after_failure("jobs", False, {}, "boom", NOW), Park)


def test_a_quorum_queue_gets_quorum_delay_queues_that_dead_letter_at_least_once():
    outcome = RetryPolicy(first_delay=0.5).after_failure("jobs", True, {}, "boom", NOW)
    assert outcome.queue == "jobs.retry.0.5s"
    assert outcome.arguments == {
        "x-message-ttl": 500, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "jobs",
        "x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
    }


def test_the_copy_keeps_the_tasks_headers_but_not_the_brokers():
    headers = {"trace": "abc", "attempts": 2, "first-failed-at": "2027-01-15T07:59:00Z", "error": "old",
               "x-delivery-count": 3, "x-death": [], "x-first-death-reason": "expired"}
    outcome = RetryPolicy().after_failure("jobs", False, headers, "new", LATER)
    assert outcome.headers == {"trace": "abc", "attempts": 3, "error": "new",
                               "first-failed-at": "2027-01-15T07:59:00Z", "failed-at": "2027-01-15T08:00:15Z"}
    assert outcome.delay == 4


@pytest.mark.parametrize(
    "table, made",
    [
        (None, 0), ({}, 0), ({"attempts": 3}, 3),
        ({"attempts": "3"}, 0), ({"attempts": -1}, 0), ({"attempts": True}, 0),
        # A parked task sent back once its cause is fixed starts anew.
        ({"attempts": 5, "parked-at": "2027-01-15T08:00:00Z"}, 0),
    ],
)
def test_attempts_made_come_from_the_header(table, made):
    assert headers.attempts_made(table) == made


def test_a_parked_task_sent_back_that_fails_again_starts_anew():
    parked = {"attempts": 5, "error": "old", "first-failed-at": "2027-01-01T00:00:00Z", "parked-at": "x"}
    outcome = RetryPolicy().after_failure("jobs", False, parked, "new", NOW)
    assert outcome.queue == "jobs.retry.1s"
    assert outcome.headers == {"attempts": 1, "error": "new", "first-failed-at": "2027-01-15T08:00:00Z",
                               "failed-at": "2027-01-15T08:00:00Z"}


def test_the_copy_is_persistent_and_keeps_what_may_be_republished():
    properties = {"content_type": "text/plain", "delivery_mode": 1, "expiration": "60000", "user_id": "guest",
                  "message_id": "m1", "priority": None, "headers": {"old": 1}}
    assert headers.copy_properties(properties, {"attempts": 1}) == {
        "content_type": "text/plain", "message_id": "m1", "delivery_mode": 2, "headers": {"attempts": 1}}


def test_a_name_too_long_for_its_delay_queues_is_said():
    assert RetryPolicy().name_too_long("q" * 246) is None  # 255 bytes with .retry.1s
    assert RetryPolicy().name_too_long("q" * 247) == (
        f"queue {'q' * 247!r} has too long a name for its queue {'q' * 247 + '.retry.1s'!r} (at most 255 bytes)")


def test_too_long_says_the_longest_name_over_the_limit():
    assert retries.too_long("q" * 250, [retries.dead_queue("q" * 250)]) is None  # 255 bytes
    assert retries.too_long("é" * 126, [retries.dead_queue("é" * 126)]) == (  # 252 bytes, then 5
        f"queue {'é' * 126!r} has too long a name for its queue {'é' * 126 + '.dead'!r} (at most 255 bytes)")
