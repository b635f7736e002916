#!/usr/bin/env python3
"""Take tasks from the work queue, one at a time: ./worker.py

Each '.' in a task is one second of (fake) work; the task is acknowledged
only once the work is done, so a task whose worker dies goes to another.

This is the tutorial's worker, in its order: the work, connect, declare,
basic_qos, basic_consume, the ack. What it adds (deadlines, reconnecting, the
tasks thread, retries, the warm stop) lives in workqueue/: see docs/code.md.
"""

import signal
import time

import workqueue  # noqa: F401  first: it says what to do if pika is not installed
from workqueue import options, output, signals
from workqueue.failed_tasks import FailedTasks
from workqueue.problems import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, consumer_cancelled, no_such_queue
from workqueue.reconnect import Reconnect
from workqueue.session import Session, Step
from workqueue.stopping import Draining, Leaving, Running, exit_now, what_becomes_of_tasks_in_hand
from workqueue.tasks import SKIPPED, Task, Tasks, redelivery_note
from workqueue.time_limit import WorkTimeLimit
from workqueue.topology import TaskQueue
from workqueue.watch import CutOffWatch

WAITING = " [*] Waiting for messages. To exit press CTRL+C"


def work(body):
    """The tutorial's callback: one second of work per dot, between its
    ' [x] Received' and ' [x] Done' (Worker.do). Put real work here: return
    when it is done, raise when it failed (tried again later, then parked);
    --time-limit bounds one that hangs; a task may run twice (a worker killed
    before its ack), so make it safe to repeat. See docs/real-work.md."""
    if b"." in body:  # (time.sleep(0) costs 0.1 ms on Linux, its timer slack)
        time.sleep(body.count(b"."))


def main():
    settings = options.worker_settings()
    output.line_by_line()
    worker = Worker(settings)
    signals.catch(worker.session.ioloop, worker.on_signal, signal.SIGINT, *signals.STOP_SIGNALS)
    worker.session.connect()  # over the URLs in turn; then steps(), each answered within --timeout
    worker.tasks.run()  # pika's I/O loop, and the tasks, until the worker leaves
    exit_now(*worker.phase)


class Worker:
    """Runs on pika's I/O loop; its methods follow in the order they run."""

    def __init__(self, settings):
        self.settings = settings
        self.queue = TaskQueue(settings.queue, settings.queue_type)
        self.session = Session(settings, self.steps, self.ready, self.ended, self.channel_closed)
        self.work = work if settings.command is None else settings.command.run  # --run: docs/real-work.md
        self.tasks = Tasks(self.session.ioloop, self.do, self.finished, self.output_lost)
        self.failed_tasks = FailedTasks(self.session, settings, work)  # retried later, or parked
        self.time_limit = WorkTimeLimit(  # of the Python work(): past it, the task fails and the worker leaves
            self.session.ioloop, settings, self.failed_tasks.failed, self.tasks.settled, self.leave)
        self.watch = CutOffWatch(self.session, self.queue, self.free, lambda: self.tasks.taken)
        self.reconnect = Reconnect(settings.parameters)
        self.phase = Running()
        self.consumer_tag = None

    # Set up, on each new channel: the requests, sent in turn.
    def steps(self):
        qos = Step("answer basic.qos", lambda channel, done: channel.basic_qos(
            prefetch_count=self.settings.prefetch, callback=done))
        return [
            *self.queue.steps(),  # channel.queue_declare(queue, durable=True): see workqueue/topology.py
            *([] if self.settings.no_ack else [qos, self.failed_tasks.confirm_step()]),
            Step("answer basic.consume", self.consume),
        ]

    def consume(self, channel, done):
        channel.add_on_cancel_callback(self.on_cancelled)
        self.consumer_tag = channel.basic_consume(self.settings.queue, self.on_message,
                                                  auto_ack=self.settings.no_ack, callback=done)

    def ready(self, _channel):
        self.queue.set_up()
        output.say(WAITING)
        self.reconnect.connected()
        self.watch.start()

    # A task arrives: the tasks thread does it (work, above); then its ack.
    def on_message(self, channel, method, properties, body):
        note = redelivery_note(method, properties)
        self.tasks.put(Task(body, properties, note, None if self.settings.no_ack else channel, method.delivery_tag))

    def do(self, task):
        """On the tasks thread: the tutorial's lines, and the work between them."""
        output.say(f" [x] Received {output.shown(task.body)}{task.note}")
        self.time_limit.started(task)
        self.work(task.body)  # a failure raises: finished() hears it
        output.say(" [x] Done")

    def finished(self, task, outcome):
        """Back on the I/O loop: ack the task done, on the channel it came on;
        one that failed is tried again later, or parked (failed_tasks.py)."""
        if not self.time_limit.finished(task):
            return  # failed at its time limit already
        if outcome not in (None, SKIPPED):
            self.failed_tasks.failed(task, outcome, lambda task: self.settled(task, "had failed (see above)"))
            return
        if task.channel is None or outcome is SKIPPED:
            pass  # --no-ack: nothing to ack; skipped: the broker gives it out again
        elif not task.channel.is_open:
            output.complain("the task's channel closed before its ack; the broker will deliver the task again")
        else:
            task.channel.basic_ack(task.delivery_tag)
        self.settled(task)

    def settled(self, task, what_became_of_it="was done and acknowledged"):
        """A failed task is settled once its copy is in (failed_tasks.py)."""
        self.tasks.settled(task)
        if isinstance(self.phase, Draining) and self.tasks.in_hand == 0:
            self.leave(f"stopped ({self.phase.signal}) once its task {what_became_of_it}", 0)

    def free(self):
        return isinstance(self.phase, Running) and self.tasks.in_hand == 0

    # What ends a connection.
    def on_cancelled(self, _frame):
        """The broker cancelled our consumer: find out why (is the queue
        still there?), then reconnect."""
        self.session.expect(self.queue.look)
        self.queue.look.send(self.session.channel, self.cancelled_queue_exists)

    def cancelled_queue_exists(self, _frame):
        self.session.answered()
        into_task = time.monotonic() - self.tasks.busy_since if self.tasks.in_hand else None
        self.session.give_up(consumer_cancelled(into_task))

    def channel_closed(self, reason, step):
        if self.queue.mend(reason, step):
            return None  # set up again, on a new channel
        if step is self.queue.look and no_such_queue(reason):
            return f"the broker cancelled our consumer: queue {self.settings.queue!r} was deleted"
        return reason

    def ended(self, problem):
        self.watch.stop()
        for task in self.failed_tasks.connection_ended():  # copies on their way: the broker has the tasks
            self.tasks.settled(task)
        if isinstance(self.phase, Leaving):  # every close we ask for is a leave
            self.tasks.end()
            return
        problem = self.session.explain(problem)
        if problem.fatal:
            self.leave(f"error: {problem.text}", EXIT_CONFIG)
        elif isinstance(self.phase, Draining):
            self.leave(f"{problem.text}; stopping as asked ({self.phase.signal})", EXIT_FAILED)
        else:
            delay = self.reconnect.after_losing(self.session.connected_to)
            output.complain(f"{problem.text}; retrying in {delay:.1f} s")
            self.session.connect_later(delay)

    # Stopping: Ctrl+C at once; SIGTERM (Ctrl+Break on Windows) warm.
    def on_signal(self, signum):
        name = signals.name(signum)
        if signum == signal.SIGINT:
            self.leave("interrupted", EXIT_INTERRUPTED)
        elif not self.free() and isinstance(self.phase, Running) and self.session.channel is not None:
            self.drain(name)
        else:
            self.leave(f"stopped ({name})", 0)

    def drain(self, name):
        """Take no new task, hand back those not started, finish the one in
        hand (finished() then leaves). The connection goes on answering
        heartbeats meanwhile."""
        self.phase = Draining(name)
        self.session.channel.basic_cancel(self.consumer_tag)  # pika rejects whatever still comes for it
        for task in self.tasks.take_back_waiting():
            if task.channel is not None and task.channel.is_open:
                task.channel.basic_nack(task.delivery_tag, requeue=True)
        output.complain(f"stopping ({name}): taking no new task, finishing the one in hand "
                        f"({name} again or Ctrl+C: stop now, and the task goes back to the queue)")

    def output_lost(self, exc):
        output.drop()
        self.leave(f"standard output is gone ({exc}): stopping", EXIT_FAILED, in_hand=True)

    def leave(self, reason, code, in_hand=False):
        """Close without acking the tasks in hand: the broker gives them to
        other workers (with --no-ack it has forgotten them already)."""
        if isinstance(self.phase, Leaving):
            self.tasks.end()  # asked twice: at once
            return
        if in_hand or self.tasks.in_hand:
            reason += what_becomes_of_tasks_in_hand(self.settings.no_ack)
        self.phase = Leaving(reason, code)
        self.session.close()  # ended() stops the I/O loop


if __name__ == "__main__":
    main()
