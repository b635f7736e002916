"""A failed task's copy, sent where workqueue/life.py's plan says (its delay
queue, or NAME.dead): that queue declared, the copy published with the
task's body, properties and headers, and the broker's confirm awaited, each
within --timeout. Only then does the life ack the task. Copies made from
another client's message may not fit: headers that would take the copy's
header frame over the connection's frame_max, or that cannot be encoded,
are left out of the copy, and named in its header `trimmed`."""

import pika
from pika import frame

from workqueue import headers
from workqueue.confirms import CONFIRMED, Confirms
from workqueue.session import Request


class Copies:
    """sent(task): its copy has gone out; copied(task): the broker has it;
    refused(task, why): it would not take it; say(line): a copy was trimmed."""

    def __init__(self, session, sent, copied, refused, say):
        self.session, self.sent, self.copied, self.refused, self.say = session, sent, copied, refused, say
        self.confirms = Confirms()
        self.select = Request("answer confirm.select", self._select)  # a set-up request on each new channel

    def _select(self, channel, done):
        self.confirms = Confirms()  # a new channel numbers its publishes from 1
        channel.add_on_return_callback(self.session.guarded(lambda _ch, _m, _p, body: self.confirms.returned(body)))
        channel.confirm_delivery(self.session.guarded(self._on_confirm), callback=done)

    def send(self, task):
        plan = task.plan
        declare = Request(f"answer the declaration of queue {plan.queue!r}", lambda channel, done: (
            channel.queue_declare(plan.queue, durable=True, arguments=plan.arguments, callback=done)))
        self.session.ask(declare, lambda _frame: self._publish(task))

    def _publish(self, task):
        plan = task.plan
        properties = self._properties(task)
        confirm = Request(f"confirm the failed task's copy in queue {plan.queue!r}")

        def publish(channel, done):
            self.confirms.publish(done, task.body)
            channel.basic_publish("", plan.queue, task.body, properties, mandatory=True)

        self.session.ask(confirm, lambda answer: self._answered(task, answer), send=publish)
        self.sent(task)

    def _on_confirm(self, method_frame):
        method = method_frame.method
        if isinstance(method, pika.spec.Basic.Ack):
            self.confirms.ack(method.delivery_tag, method.multiple)
        else:
            self.confirms.nack(method.delivery_tag, method.multiple)
        for done, answer in list(self.confirms.answered()):
            done(answer)

    def _answered(self, task, answer):
        if answer is CONFIRMED:
            self.copied(task)
        else:
            self.refused(task, answer.split(" (")[0])

    def _properties(self, task):
        limit = self.session.connection.params.frame_max
        properties, dropped = copy_properties(task.properties, len(task.body), task.plan.headers, limit)
        if dropped:
            self.say(f"the copy of task {task.shown} leaves out its headers {headers.names(dropped)}: "
                     f"over the frame size ({limit} bytes) or not encodable (named in its header 'trimmed')")
        return properties


def copy_properties(properties, body_size, table, frame_max):
    """The copy's properties: the task's (pika's BasicProperties), with
    `table` (its headers) fitted into one frame of `frame_max` bytes; and the names of
    the task's own headers left out."""
    kept = vars(properties)

    def size(table):
        copy = pika.BasicProperties(**headers.copy_properties(kept, table))
        return len(frame.Header(1, body_size, copy).marshal())

    table, dropped = headers.fitted(table, size, frame_max)
    try:
        size(table)
        return pika.BasicProperties(**headers.copy_properties(kept, table)), dropped
    except Exception:  # a property of the task's own that pika cannot encode: the copy keeps none of them
        kept = {}
        return pika.BasicProperties(**headers.copy_properties(kept, table)), dropped
