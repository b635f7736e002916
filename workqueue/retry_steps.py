"""The broker's part of a failed task (workqueue/retries.py decides where it
goes): declare that queue, publish the task's copy there, wait for the
broker's confirm, and only then ack the original. Requests as Steps, which
the session sends in turn, each answered within --timeout; the ack is the
worker's, once they are done.
"""

import pika
import pika.spec

from workqueue import retries
from workqueue.session import Step


class Confirms:
    """Publisher confirms on the worker's channel: the outcome of each copy.
    The session sends one copy at a time (its steps go in turn), so a
    basic.return, which comes before the confirm of its publish, is for the
    one copy waiting."""

    def __init__(self):
        self.reset()

    def reset(self):
        """A new channel: its publishes are numbered from 1."""
        self._next = 1
        self._waiting = {}  # delivery tag -> outcome(problem or None)
        self._returned = set()

    def select_step(self):
        """Put each new channel in confirm mode: a set-up step (not with --no-ack)."""
        return Step("answer confirm.select", self._select)

    def _select(self, channel, done):
        self.reset()
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=done)

    def publish(self, channel, queue, body, properties, outcome):
        """Publish to `queue` through the default exchange; outcome(None) once
        the broker has it, outcome(problem) if it refuses or returns it."""
        tag, self._next = self._next, self._next + 1
        self._waiting[tag] = outcome
        channel.basic_publish("", queue, body, properties, mandatory=True)

    def _on_return(self, _channel, _method, _properties, _body):
        if self._waiting:
            self._returned.add(min(self._waiting))

    def _on_confirm(self, frame):
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = sorted(t for t in self._waiting if t <= method.delivery_tag) if method.multiple else [method.delivery_tag]
        for tag in tags:
            outcome = self._waiting.pop(tag, None)
            returned = tag in self._returned
            self._returned.discard(tag)
            if outcome is not None:
                outcome(None if acked and not returned else "could not route (basic.return)" if returned else "refused (basic.nack)")


def after_failure(confirms, outcome, body, properties, fail):
    """The steps that put the copy of a failed task where `outcome` (a
    retries.Retry or retries.Park) says; `properties` the task's (pika's
    BasicProperties). If the broker does not take the copy, fail(problem):
    the session gives the connection up, and the original, never acked,
    comes back."""
    copy = pika.BasicProperties(**retries.copy_properties(vars(properties), outcome.headers))

    def declare(channel, done):
        channel.queue_declare(outcome.queue, durable=True, arguments=outcome.arguments, callback=done)

    def publish(channel, done):
        def confirmed(problem):
            if problem is None:
                done(None)
            else:
                fail(f"the broker {problem} the failed task's copy for queue {outcome.queue!r}")

        confirms.publish(channel, outcome.queue, body, copy, confirmed)

    return [
        Step(f"answer the declaration of queue {outcome.queue!r}", declare),
        Step(f"confirm the failed task's copy in queue {outcome.queue!r}", publish),
    ]
