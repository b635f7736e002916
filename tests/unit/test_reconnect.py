"""workqueue/reconnect.py: the backoff and the next URL to try."""

import copy
import random

import pika
import pytest

from workqueue import reconnect
from workqueue.reconnect import Backoff


def no_jitter(low, high):
    return 1.0


def test_the_backoff_doubles_from_half_a_second_to_ten():
    backoff = Backoff(uniform=no_jitter)
    assert [backoff.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_the_backoff_stays_at_its_cap():
    backoff = Backoff(uniform=no_jitter)
    delays = [backoff.next_delay() for _ in range(100)]
    assert max(delays) == 10
    assert delays[-1] == 10


def test_the_backoff_stays_at_its_cap_however_long_the_broker_is_down():
    backoff = Backoff(uniform=no_jitter)
    assert [backoff.next_delay() for _ in range(1100)][-1] == 10


def test_jitter_is_80_to_100_percent_of_the_delay():
    asked = []

    def uniform(low, high):
        asked.append((low, high))
        return low

    backoff = Backoff(uniform=uniform)
    assert [backoff.next_delay() for _ in range(7)] == pytest.approx([0.4, 0.8, 1.6, 3.2, 6.4, 8, 8])
    assert set(asked) == {(0.8, 1.0)}


@pytest.mark.parametrize("seed", range(5))
def test_jitter_with_a_real_random_stays_in_bounds(seed):
    backoff = Backoff(uniform=random.Random(seed).uniform)
    for attempt in range(12):
        full = min(10, 0.5 * 2**attempt)
        assert 0.8 * full <= backoff.next_delay() <= full


def test_reset_starts_again_from_the_shortest_delay():
    backoff = Backoff(uniform=no_jitter)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert [backoff.next_delay() for _ in range(2)] == [0.5, 1]


def urls(*hosts):
    return [pika.URLParameters(f"amqp://guest:guest@{host}:5672/%2F") for host in hosts]


@pytest.mark.parametrize("lost, order", [("a", "bca"), ("b", "cab"), ("c", "abc")])
def test_reconnect_tries_the_url_after_the_one_lost_first(lost, order):
    parameters = urls("a", "b", "c")
    # The connection's parameters are pika's deep copy of the URL's.
    after = reconnect.after(parameters, copy.deepcopy(parameters["abc".index(lost)]))
    assert "".join(p.host for p in after) == order
    assert "".join(p.host for p in parameters) == "abc"  # a new list: the settings' stay as given


def test_reconnect_keeps_the_order_when_no_connection_was_made():
    parameters = urls("a", "b", "c")
    assert [p.host for p in reconnect.after(parameters, None)] == ["a", "b", "c"]


def test_each_loss_goes_on_from_the_order_it_was_made_in():
    order = urls("a", "b", "c")
    order = reconnect.after(order, order[0])
    assert [p.host for p in reconnect.after(order, order[0])] == ["c", "a", "b"]
