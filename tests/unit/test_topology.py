"""workqueue/topology.py: the queue's set-up on each new channel, a queue's
own settings adopted, and the dead-letter queue NAME.dead."""

import pytest
from pika.exceptions import ChannelClosedByBroker

from workqueue.retries import DEAD_LETTER_EXCHANGE
from workqueue.topology import TaskQueue, adoptable_setting


def inequivalent(setting, detail, queue="q"):
    """The broker's refusal of a declaration that differs from the queue's:
    for these settings RabbitMQ 3.10.8 and 4.3.6 word it alike (taken from
    both; pika sends an integer as signedint, or long past 2**31)."""
    return ChannelClosedByBroker(
        406, f"PRECONDITION_FAILED - inequivalent arg '{setting}' for queue '{queue}' in vhost '/': {detail}"
    )


@pytest.mark.parametrize(
    "reason, adopted",
    [
        (inequivalent("x-delivery-limit", "received none but current is the value '3' of type 'signedint'"), ("x-delivery-limit", 3)),
        (inequivalent("x-delivery-limit", "received none but current is the value '1099511627776' of type 'long'"),
         ("x-delivery-limit", 2**40)),
        (inequivalent("x-delivery-limit", "received none but current is the value '7' of type 'short'"), ("x-delivery-limit", 7)),
        (inequivalent("x-dead-letter-exchange", "received none but current is the value 'work-queues.dead' of type 'longstr'"),
         ("x-dead-letter-exchange", "work-queues.dead")),
        (inequivalent("x-dead-letter-routing-key", "received none but current is the value 'it's' of type 'longstr'"),
         ("x-dead-letter-routing-key", "it's")),
        (inequivalent("x-dead-letter-exchange", "received none but current is the value '' of type 'longstr'"),
         ("x-dead-letter-exchange", "")),
    ],
)
def test_a_setting_the_queue_has_and_ours_leaves_out_is_adopted(reason, adopted):
    assert adoptable_setting(reason) == adopted


@pytest.mark.parametrize(
    "reason",
    [
        # Not one of the settings we adopt.
        inequivalent("x-max-length", "received none but current is the value '10' of type 'signedint'"),
        inequivalent("durable", "received 'true' but current is 'false'"),
        inequivalent("x-queue-type", "received none but current is the value 'quorum' of type 'longstr'"),
        inequivalent("x-queue-type", "received 'classic' but current is 'quorum'"),
        # Ours has it too, or it differs: not a setting ours leaves out.
        inequivalent("x-delivery-limit", "received the value '3' of type 'signedint' but current is none"),
        inequivalent("x-delivery-limit", "received the value '3' of type 'signedint' but current is the value '5' of type 'signedint'"),
        # A type we cannot take it as.
        inequivalent("x-delivery-limit", "received none but current is the value '2.5' of type 'double'"),
        ChannelClosedByBroker(404, "NOT_FOUND - no queue 'q' in vhost '/'"),
        "no answer within 30 s",
        None,
    ],
)
def test_anything_else_is_not_adopted(reason):
    assert adoptable_setting(reason) is None


class Channel:
    """Records what is sent on it."""

    def __init__(self):
        self.sent = []

    def __getattr__(self, method):
        return lambda *args, **kwargs: self.sent.append((method, args, kwargs))


def sent(steps):
    channel = Channel()
    for step in steps:
        step.send(channel, done)
    return channel.sent


def done(_frame):
    pass


def test_a_classic_queue_is_declared_as_the_tutorial_declares_it():
    queue = TaskQueue("q", True, {})
    assert queue.requests() == [queue.declare]
    assert sent(queue.requests()) == [("queue_declare", ("q",), {"durable": True, "arguments": {}, "callback": done})]


def test_a_quorum_queue_is_declared_and_its_dead_letter_queue_looked_for():
    queue = TaskQueue("q", True, {"x-queue-type": "quorum"})
    assert queue.requests() == [queue.declare, queue.look_for_dead_letters]
    assert sent(queue.requests()) == [
        ("queue_declare", ("q",), {"durable": True, "arguments": {"x-queue-type": "quorum"}, "callback": done}),
        ("queue_declare", ("q.dead",), {"passive": True, "callback": done}),
    ]


def test_a_missing_dead_letter_queue_is_declared_and_bound():
    queue = TaskQueue("q", True, {"x-queue-type": "quorum"})
    assert queue.mend(ChannelClosedByBroker(404, "NOT_FOUND - no queue 'q.dead' in vhost '/'"), queue.look_for_dead_letters)
    assert queue.requests() == [queue.declare, *queue.declare_dead_letters]
    assert sent(queue.declare_dead_letters) == [
        ("exchange_declare", (DEAD_LETTER_EXCHANGE, "direct"), {"durable": True, "callback": done}),
        ("queue_declare", ("q.dead",), {"durable": True, "arguments": {"x-queue-type": "quorum"}, "callback": done}),
        ("queue_bind", ("q.dead", DEAD_LETTER_EXCHANGE), {"routing_key": "q", "callback": done}),
    ]
    queue.set_up()  # done: on the next channel, a look again
    assert queue.requests() == [queue.declare, queue.look_for_dead_letters]


def test_an_adopted_setting_is_declared_from_then_on(capsys):
    queue = TaskQueue("q", True, {"x-queue-type": "quorum"})
    reason = inequivalent("x-delivery-limit", "received none but current is the value '5' of type 'signedint'")
    assert queue.mend(reason, queue.declare)
    assert sent([queue.declare]) == [
        ("queue_declare", ("q",), {"durable": True, "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 5}, "callback": done}),
    ]
    queue.set_up()
    queue.set_up()
    assert capsys.readouterr().err.count("queue 'q' has its own delivery limit (5); using it as it is") == 1


def test_a_queue_with_its_own_dead_lettering_needs_no_dead_letter_queue():
    queue = TaskQueue("q", True, {"x-queue-type": "quorum"})
    reason = inequivalent("x-dead-letter-exchange", "received none but current is the value 'elsewhere' of type 'longstr'")
    assert queue.mend(reason, queue.declare)
    assert queue.requests() == [queue.declare]


@pytest.mark.parametrize(
    "reason, step",
    [
        (inequivalent("x-max-length", "received none but current is the value '10' of type 'signedint'"), "declare"),
        (inequivalent("durable", "received 'true' but current is 'false'"), "declare"),
        (ChannelClosedByBroker(404, "NOT_FOUND - no queue 'q' in vhost '/'"), "declare"),
        (inequivalent("x-delivery-limit", "received none but current is the value '5' of type 'signedint'"), "look"),
        (ChannelClosedByBroker(403, "ACCESS_REFUSED - access to queue 'q.dead' in vhost '/' refused"), "look_for_dead_letters"),
        ("no answer within 30 s", "look_for_dead_letters"),
    ],
)
def test_what_is_not_mended(reason, step):
    queue = TaskQueue("q", True, {"x-queue-type": "quorum"})
    assert not queue.mend(reason, getattr(queue, step))
    assert queue.arguments == {"x-queue-type": "quorum"}
    assert queue.requests() == [queue.declare, queue.look_for_dead_letters]


def test_nothing_said_for_a_queue_as_the_tutorial_declares_it(capsys):
    queue = TaskQueue("q", True, {})
    queue.set_up()
    assert capsys.readouterr().err == ""
