"""The confirm bookkeeping of a failed task's copy, and its steps, on a
stand-in channel that records the requests (the broker's side is in
tests/test_real_work.py)."""

import types

import pika
import pika.spec

from workqueue import retries, retry_steps


class Channel:
    def __init__(self):
        self.sent = []
        self.on_return = None

    def add_on_return_callback(self, callback):
        self.on_return = callback

    def confirm_delivery(self, on_confirm, callback):
        self.on_confirm = on_confirm
        self.sent.append(("confirm.select",))
        callback(None)

    def queue_declare(self, queue, durable, arguments, callback):
        self.sent.append(("queue.declare", queue, durable, arguments))
        callback(None)

    def basic_publish(self, exchange, routing_key, body, properties, mandatory):
        self.sent.append(("basic.publish", exchange, routing_key, body, properties, mandatory))

    def confirm(self, method):
        self.on_confirm(types.SimpleNamespace(method=method))


def selected():
    channel, confirms = Channel(), retry_steps.Confirms()
    confirms.select_step().send(channel, lambda _frame: None)
    return channel, confirms


def test_each_copy_hears_its_confirm_in_order_with_multiple():
    channel, confirms = selected()
    heard = []
    for n in range(3):
        confirms.publish(channel, "q", b"x", None, lambda problem, n=n: heard.append((n, problem)))
    channel.confirm(pika.spec.Basic.Ack(delivery_tag=2, multiple=True))
    assert heard == [(0, None), (1, None)]
    channel.confirm(pika.spec.Basic.Nack(delivery_tag=3))
    assert heard[2] == (2, "refused (basic.nack)")


def test_a_returned_copy_is_not_taken_though_acked():
    channel, confirms = selected()
    heard = []
    confirms.publish(channel, "gone", b"x", None, heard.append)
    channel.on_return(channel, None, None, b"x")
    channel.confirm(pika.spec.Basic.Ack(delivery_tag=1))
    assert heard == ["could not route (basic.return)"]


def test_a_new_channel_numbers_from_one():
    channel, confirms = selected()
    confirms.publish(channel, "q", b"x", None, lambda problem: None)
    channel, confirms2 = Channel(), confirms
    confirms2.select_step().send(channel, lambda _frame: None)
    heard = []
    confirms2.publish(channel, "q", b"x", None, heard.append)
    channel.confirm(pika.spec.Basic.Ack(delivery_tag=1))
    assert heard == [None]


def run(channel, steps):
    for step in steps:
        done = []
        step.send(channel, done.append)
        if not done:
            return False
    return True


def test_the_steps_declare_publish_a_persistent_copy_and_finish_on_its_confirm():
    channel, confirms = selected()
    outcome = retries.RetryPolicy().after_failure("jobs", False, {"x-delivery-count": 1}, "exit status 3", 0)
    properties = pika.BasicProperties(delivery_mode=2, user_id="guest", content_type="text/plain")
    failures = []
    steps = retry_steps.after_failure(confirms, outcome, b"task", properties, failures.append)
    assert [step.what for step in steps] == [
        "answer the declaration of queue 'jobs.retry.1s'", "confirm the failed task's copy in queue 'jobs.retry.1s'"]
    assert not run(channel, steps)  # the publish waits for its confirm
    _, queue, durable, arguments = channel.sent[1]
    assert (queue, durable, arguments) == ("jobs.retry.1s", True, outcome.arguments)
    _, exchange, routing_key, body, copy, mandatory = channel.sent[2]
    assert (exchange, routing_key, body, mandatory) == ("", "jobs.retry.1s", b"task", True)
    assert (copy.delivery_mode, copy.user_id, copy.content_type) == (2, None, "text/plain")
    assert copy.headers == outcome.headers
    channel.confirm(pika.spec.Basic.Nack(delivery_tag=1))
    assert failures == ["the broker refused (basic.nack) the failed task's copy for queue 'jobs.retry.1s'"]
