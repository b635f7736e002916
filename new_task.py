#!/usr/bin/env python3
"""Send a task to the work queue: ./new_task.py First message.
or many, one a line, from standard input: seq 1000 | ./new_task.py -

Each '.' in a task is one second of work for the worker that takes it.
' [x] Sent ...' is printed once the broker has confirmed the task.

This is the tutorial's new_task.py, in the tutorial's order: the message,
connect, declare, basic_publish (persistent), then ' [x] Sent'. What it
adds lives in workqueue/ (docs/code.md): a deadline on every answer of the
broker (session.py), publisher confirms kept in order (confirms.py), tasks
from standard input (stdin.py).
"""

import signal
import sys
import threading

import workqueue  # noqa: F401  first: it says what to do if pika is not installed
import pika
from workqueue import options, output, signals
from workqueue.confirms import CONFIRMED, Confirms
from workqueue.handover import Handover, Room
from workqueue.problems import EXIT_FAILED, EXIT_INTERRUPTED
from workqueue.session import Session, Step
from workqueue.stdin import lines_of
from workqueue.topology import TaskQueue

PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)  # on disk, for a durable queue


def main():
    settings = options.new_task_settings()
    output.line_by_line()
    from_input = settings.words == ["-"]
    if from_input:
        tasks = lines_of(sys.stdin.fileno())
    else:
        message = " ".join(settings.words) or "Hello World!"
        # surrogateescape: bytes that are not UTF-8 in argv go out as given
        tasks = [(1, message.encode("utf-8", "surrogateescape"))]

    publisher = Publisher(settings, tasks, from_input)
    signals.catch(publisher.session.ioloop, publisher.on_signal, signal.SIGINT)
    publisher.session.connect()  # over the URLs in turn; then steps(), each answered within --timeout
    try:
        publisher.session.ioloop.start()  # until the last task is confirmed, or a problem
    except output.OutputLost as exc:
        output.drop()
        publisher.problem, publisher.code = f"standard output is gone ({exc})", EXIT_FAILED
    if publisher.problem:
        publisher.fail()


class Publisher:
    """Sends the tasks over one connection as they come (as a user types
    them, say), with publisher confirms: the broker confirms each task once
    it has it, on disk for a durable queue. Up to WINDOW tasks are on their
    way at once, rather than one round trip a task: so this runs on pika's
    asynchronous SelectConnection, and a thread reads the tasks."""

    WINDOW = 1000

    def __init__(self, settings, tasks, from_input):
        self.settings = settings
        self.tasks = tasks  # (line number, task) pairs
        self.from_input = from_input  # else one task, from the command line
        self.queue = TaskQueue(settings.queue, settings.queue_type)
        self.session = Session(settings, self.steps, self.ready, self.ended, self.channel_closed)
        self.room = Room(self.WINDOW)  # for tasks on their way
        self.confirms = Confirms()
        self.all_read = False
        self.problem = None  # why it stopped before the end, in one line
        self.code = 0  # the exit code that goes with it

    # Set up, on each new channel: declare the queue, then confirms on.
    def steps(self):
        return [
            *self.queue.steps(),  # channel.queue_declare(queue, durable=True): see workqueue/topology.py
            Step("answer confirm.select", lambda channel, done: channel.confirm_delivery(self.on_confirm, callback=done)),
        ]

    def ready(self, channel):
        self.queue.set_up()
        channel.add_on_return_callback(self.on_returned)
        self.session.connection.add_on_connection_blocked_callback(self.on_blocked)
        threading.Thread(target=self.read, name="reader", daemon=True).start()

    def read(self):
        """On the reader thread: hand the tasks to the I/O loop, WINDOW at most
        unconfirmed. A task is read only when there is room for it."""
        handover = Handover(self.session.ioloop)  # one wake-up of the loop for the tasks read meanwhile
        try:
            for line, task in self.tasks:
                self.room.take()
                handover.call(self.publish, line, task)
            handover.call(self.end_of_tasks)
        except OSError as exc:
            handover.call(self.stop, f"cannot read standard input: {exc.strerror or exc}")

    # Publish each task as the reader hands it over; ' [x] Sent' once confirmed.
    def publish(self, line, task):
        channel = self.session.channel
        if self.confirms.refused or self.problem is not None or channel is None:
            return  # no more tasks after one the broker did not take, or the connection's end
        channel.basic_publish(
            exchange="", routing_key=self.settings.queue, body=task, properties=PERSISTENT,
            mandatory=True,  # returned, not dropped, if no queue takes it
        )
        self.confirms.publish(line, task)
        if self.session.waiting_for is None:
            self.expect_confirm()

    def on_confirm(self, frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self.confirms.nack(method.delivery_tag, method.multiple)
        else:
            self.confirms.ack(method.delivery_tag, method.multiple)
        self.report_sent()

    def on_returned(self, _channel, _method, _properties, body):
        self.confirms.returned(body, f"the broker returned a task: no queue {self.settings.queue!r} took it")

    def report_sent(self):
        """' [x] Sent' for the confirmed tasks, in order, up to the first one
        that was refused or returned, where it stops."""
        sent_before = self.confirms.sent
        while self.problem is None and (oldest := self.confirms.oldest()) is not None:
            _line, task, answer = oldest
            if answer is None:
                break
            if answer is not CONFIRMED:
                self.stop(answer)
                return
            output.say(f" [x] Sent {output.shown(task)}")
            self.confirms.reported_sent()
            self.session.answered()
        if sent := self.confirms.sent - sent_before:
            self.room.give_back(sent)
        if self.confirms.unconfirmed and self.session.waiting_for is None:
            self.expect_confirm()
        self.close_when_done()

    def expect_confirm(self):
        """A deadline for the oldest task not yet confirmed."""
        line = self.confirms.first_unsent_line()
        self.session.expect(Step(f"confirm the task on line {line} of the input" if self.from_input else "confirm the task"))

    def end_of_tasks(self):
        self.all_read = True
        self.close_when_done()

    def close_when_done(self):
        if self.all_read and not self.confirms.unconfirmed and self.problem is None:
            self.session.close()

    # What ends it early.
    def on_blocked(self, _connection, _frame):
        output.complain(
            "the broker is blocking publishers (it is short of memory or disk space); "
            f"waiting up to {self.settings.timeout:g} s for it"
        )

    def on_signal(self, _signum):  # Ctrl+C
        self.stop("interrupted", code=EXIT_INTERRUPTED)

    def channel_closed(self, reason, step):
        return None if self.queue.mend(reason, step) else reason

    def stop(self, problem, code=EXIT_FAILED):
        """Stop at the first problem; the tasks not yet confirmed are not reported sent."""
        if self.problem is None:
            self.problem, self.code = problem, code
        self.session.close()

    def ended(self, problem):
        if self.problem is None and problem is not None:
            self.problem, self.code = self.session.explain(problem).text, EXIT_FAILED
        self.session.ioloop.stop()

    def fail(self):
        """Exit, saying what went wrong and what became of the tasks."""
        problem, confirms = self.problem, self.confirms
        if self.from_input:
            sent = f"{confirms.sent} task{'' if confirms.sent == 1 else 's'} sent"
            problem += f"; {sent}; none from line {confirms.first_unsent_line()} of the input on is known to be sent"
        elif confirms.sent:
            problem += "; the task was sent"
        elif confirms.published:
            problem += "; the task was not confirmed: it may or may not be in the queue"
        elif self.code == EXIT_INTERRUPTED:
            problem += "; the task was not sent"
        output.complain(f"error: {problem}" if self.code == EXIT_FAILED else problem)
        sys.exit(self.code)


if __name__ == "__main__":
    main()
