#!/usr/bin/env python3
"""Take tasks from the work queue, one at a time: ./worker.py

Each '.' in a task is one second of (fake) work; the task is acknowledged
only once the work is done, so a task whose worker dies goes to another.
"""

import functools
import os
import queue
import random
import signal
import sys
import threading
import time

import workqueue  # first: it says what to do if pika is not installed

WAITING = " [*] Waiting for messages. To exit press CTRL+C"
# The stop a service manager asks for: SIGTERM; Ctrl+Break in a Windows console.
STOP_SIGNALS = [signal.SIGTERM, *([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])]


def main():
    args = parse_arguments()
    parameters = workqueue.connection_parameters(args.parser, args)
    workqueue.line_by_line_output()
    worker = Worker(parameters, args)
    worker.catch(signal.SIGINT, *STOP_SIGNALS)
    worker.run()
    worker.exit()


def parse_arguments():
    parser = workqueue.argument_parser("Take tasks from the work queue, one at a time.")
    parser.add_argument(
        "--prefetch",
        type=workqueue.integer_between(0, 65535),
        help="tasks the broker may hand this worker before it acks (default: 1, fair "
        "dispatch; 0 means unlimited, the tutorial's plain round-robin)",
    )
    parser.add_argument(
        "--no-ack",
        action="store_true",
        help="automatic acks (the tutorial's demonstration): the broker pushes this worker "
        "every waiting task at once, and every task it has not finished is lost if it dies",
    )
    args = workqueue.parse_arguments(parser)
    if args.no_ack and args.prefetch is not None:
        parser.error("--prefetch has no effect with --no-ack: the broker sends every task at once")
    if args.prefetch is None:
        args.prefetch = 1
    args.parser = parser
    return args


class Worker(workqueue.Client):
    """Consumes the queue, hands each task to the task thread, acks it when
    done; reconnects with backoff when the connection is lost, going on to
    the next URL; stops warm on SIGTERM. Runs on pika's I/O loop (see
    workqueue.Client), in the order written."""

    def __init__(self, parameters, args):
        super().__init__(parameters, args)
        self.tasks = TaskThread(self)
        self.in_hand = 0  # tasks received and not yet finished
        self.task_since = None  # when the worker last took a task with nothing in hand
        self.received = 0  # every task received, for the idle check
        self.retry = Backoff()
        self.consumer_tag = None
        self.idle_check = None  # the timer of the next look at the queue
        self.looking = None  # the look under way
        self.stopping = None  # the signal's name, during a warm stop
        self.leaving = None  # (line, exit code), once it is leaving
        self.looking_at_queue = f"answer a look at queue {args.queue!r}"

    # Consume: after the declarations (workqueue.Client), the tutorial's
    # basic_qos and basic_consume.
    def steps(self, channel):
        qos = [] if self.args.no_ack else [
            ("answer basic.qos", lambda done: channel.basic_qos(prefetch_count=self.args.prefetch, callback=done))
        ]
        return [*qos, ("answer basic.consume", functools.partial(self.consume, channel))]

    def consume(self, channel, done):
        channel.add_on_cancel_callback(self.on_cancelled)
        self.consumer_tag = channel.basic_consume(
            self.args.queue, self.on_message, auto_ack=self.args.no_ack, callback=done
        )

    def ready(self):
        workqueue.say(WAITING)
        self.retry.reset()
        self.watch_idle()

    def on_message(self, channel, method, properties, body):
        """pika's callback. A task with no work, when nothing is in hand, is
        done right here: a hand-off to the thread costs two wake-ups."""
        self.received += 1
        ack = None if self.args.no_ack else Ack(channel, method.delivery_tag)
        note = redelivery_note(method, properties)
        if seconds_of_work(body) == 0 and self.in_hand == 0:
            try:
                work(body, note)
            except workqueue.OutputLost as exc:
                self.output_lost(exc)
                return
            if ack is not None:
                ack.send()
        else:
            if self.in_hand == 0:
                self.task_since = time.monotonic()
            self.in_hand += 1
            self.tasks.put(body, note, ack)

    def finished(self, ack):
        """The task thread is done with a task (ack None: nothing to ack)."""
        self.in_hand -= 1
        if ack is not None:
            ack.send()
        if self.stopping and self.in_hand == 0 and self.leaving is None:
            self.leave(f"stopped ({self.stopping}) once its task was done and acknowledged", 0)

    # A free worker that gets nothing while its queue has tasks waiting is
    # cut off from them: its node cannot reach the queue's leader (a network
    # partition), or has stopped answering. It says so and goes on to the
    # next URL. A cut-off node may still answer, with the count it had at
    # the cut: so the other nodes of --url are asked too, and most must agree.
    def watch_idle(self, suspect=None):
        """Look at the queue in --timeout s; `suspect`: the tasks received by
        the last look, if it found tasks waiting that did not come."""
        self.idle_check = self.ioloop.call_later(self.args.timeout, functools.partial(self.check_idle, suspect))

    def check_idle(self, suspect):
        self.idle_check = None
        if self.in_hand or self.channel is None or self.stopping or self.waiting_for:
            self.watch_idle()
            return
        received, answers = self.received, []
        others = [p for p in self.parameters if p != self.connected_to]
        look = self.looking = object()  # this look, as opposed to one from a connection since lost

        def counted(count):
            if look is not self.looking:
                return
            answers.append(count)
            if len(answers) < 1 + len(others):
                return
            waiting = [n for n in answers if n]
            if len(waiting) <= len(self.parameters) / 2 or self.in_hand or received != self.received:
                self.watch_idle()
            elif suspect != received:
                self.watch_idle(received)  # once more, to be sure
            else:
                seen = "as the broker sees it" if not others else f"as {len(waiting)} of {len(self.parameters)} nodes see it"
                self.give_up(
                    f"queue {self.args.queue!r} has {max(waiting)} tasks waiting ({seen}), yet none came to "
                    f"this free worker for {self.args.timeout:g} s: the broker at "
                    f"{workqueue.where(self.parameters_in_use())} is likely cut off from the queue's leader"
                )

        self.expect(self.looking_at_queue)
        self.channel.queue_declare(
            self.args.queue, passive=True, callback=lambda frame: (self.answered(), counted(frame.method.message_count))
        )
        for parameters in others:
            workqueue.look_at_queue(self.ioloop, parameters, self.args.queue, self.args.timeout, counted)

    # What ends a connection.
    def on_cancelled(self, _frame):
        """The broker cancelled our consumer: find out why (is the queue
        still there?), then reconnect."""
        self.expect(self.looking_at_queue)
        self.channel.queue_declare(self.args.queue, passive=True, callback=self.cancelled_queue_exists)

    def cancelled_queue_exists(self, _frame):
        self.answered()
        if self.in_hand:
            self.give_up(
                f"the broker cancelled our consumer {time.monotonic() - self.task_since:.0f} s into a task "
                "(RabbitMQ 4.x does this when a task outlasts consumer_timeout, and gives the task to "
                "another worker; or the queue's node went down)"
            )
        else:
            self.give_up("the broker cancelled our consumer (was the queue's node restarted or cut off?)")

    def channel_closed(self, reason, waiting_for):
        if waiting_for == self.looking_at_queue and no_such_queue(reason):
            reason = f"the broker cancelled our consumer: queue {self.args.queue!r} was deleted"
        self.give_up(reason)

    def ended(self, problem):
        self.looking = None
        if self.idle_check is not None:
            self.ioloop.remove_timeout(self.idle_check)
            self.idle_check = None
        if self.leaving is not None:  # every close we ask for is a leave
            self.ioloop.stop()
        elif workqueue.is_fatal(problem, self.parameters):
            self.leave(f"error: {workqueue.describe(problem, self.parameters)}", workqueue.EXIT_CONFIG)
        elif self.stopping:
            self.leave(f"{workqueue.describe(problem, self.parameters)}; stopping as asked ({self.stopping})", 1)
        else:
            self.next_url()
            delay = self.retry.next_delay()
            workqueue.complain(f"{workqueue.describe(problem, self.parameters)}; retrying in {delay:.1f} s")
            self.ioloop.call_later(delay, self.reconnect)

    def next_url(self):
        """Begin the next attempt after the URL of the connection just lost: a
        node that accepts connections but cannot serve the queue must not get
        this worker back at once."""
        if self.connected_to in self.parameters:
            at = self.parameters.index(self.connected_to) + 1
            self.parameters[:] = self.parameters[at:] + self.parameters[:at]

    def reconnect(self):
        if self.leaving is None:
            self.connect()

    # Stopping.
    def on_signal(self, signum):
        name = "Ctrl+Break" if signum == getattr(signal, "SIGBREAK", None) else signal.Signals(signum).name
        if signum == signal.SIGINT:
            self.leave("interrupted", 130)
        elif self.stopping or self.leaving or self.in_hand == 0 or self.channel is None:
            self.leave(f"stopped ({name})", 0)
        else:
            self.warm_stop(name)

    def warm_stop(self, name):
        """Take no new task, hand back those not started, finish the one in
        hand (finished() then leaves). The connection goes on answering
        heartbeats meanwhile."""
        self.stopping = name
        self.channel.basic_cancel(self.consumer_tag)  # pika rejects whatever still comes for it
        for ack in self.tasks.take_back_waiting():
            self.in_hand -= 1
            if ack is not None:
                ack.requeue()
        workqueue.complain(
            f"stopping ({name}): taking no new task, finishing the one in hand "
            f"({name} again or Ctrl+C: stop now, and the task goes back to the queue)"
        )

    def output_lost(self, exc):
        workqueue.drop_output()
        self.leave(f"standard output is gone ({exc}): stopping", 1, in_hand=True)

    def leave(self, reason, code, in_hand=False):
        """Close without acking the tasks in hand: the broker gives them to
        other workers (with --no-ack it has forgotten them already)."""
        if self.leaving is not None:
            self.ioloop.stop()  # asked twice: at once
            return
        if in_hand or self.in_hand:
            reason += (
                "; the tasks it had taken are lost (--no-ack)"
                if self.args.no_ack
                else "; its unfinished task goes back to the queue"
            )
        self.leaving = (reason, code)
        self.close()  # ended() stops the I/O loop

    def exit(self):
        reason, code = self.leaving
        if code == 130 and sys.stderr.isatty():
            print(file=sys.stderr)  # off the line where the terminal echoed ^C
        workqueue.complain(reason)
        workqueue.flush_or_drop_output()
        os._exit(code)  # now: the task thread may be in the middle of a task


class Backoff:
    """Capped exponential backoff, with jitter so that restarted workers do not
    all knock at once."""

    FIRST, CAP = 0.5, 10.0

    def __init__(self):
        self.attempt = 0

    def reset(self):
        self.attempt = 0

    def next_delay(self):
        delay = min(self.CAP, self.FIRST * 2**self.attempt) * random.uniform(0.8, 1.0)
        self.attempt += 1
        return delay


def redelivery_note(method, properties):
    """' (redelivered)', with the delivery's number where the queue counts them."""
    if not method.redelivered:
        return ""
    earlier = (properties.headers or {}).get("x-delivery-count")  # quorum queues
    return f" (redelivered, delivery {earlier + 1})" if earlier else " (redelivered)"


class TaskThread:
    """Does the tasks one at a time on a thread of its own, so that pika's I/O
    loop goes on answering heartbeats however long a task takes. It reports
    back to the worker on the I/O loop (add_callback_threadsafe)."""

    def __init__(self, worker):
        self._worker = worker
        self._tasks = queue.Queue()
        threading.Thread(target=self._run, name="tasks", daemon=True).start()

    def put(self, body, note, ack):
        self._tasks.put((body, note, ack))

    def take_back_waiting(self):
        """The acks of the tasks not started yet, taken off the thread's queue."""
        taken = []
        while True:
            try:
                _body, _note, ack = self._tasks.get_nowait()
            except queue.Empty:
                return taken
            taken.append(ack)

    def _run(self):
        report = self._worker.ioloop.add_callback_threadsafe
        while True:
            body, note, ack = self._tasks.get()
            # A task whose connection is gone is not done: the broker gives it out again.
            alive = ack is None or ack.possible()
            try:
                if alive:
                    work(body, note)
            except workqueue.OutputLost as exc:
                report(functools.partial(self._worker.output_lost, exc))
                return  # the task stays unacked
            report(functools.partial(self._worker.finished, ack if alive else None))


def no_such_queue(reason):
    """A 404 for a queue that is gone, not for one whose node is unreachable."""
    return getattr(reason, "reply_code", None) == 404 and "is down or inaccessible" not in reason.reply_text


def seconds_of_work(body):
    return body.count(b".")


def work(body, note):
    workqueue.say(f" [x] Received {workqueue.shown(body)}{note}")
    time.sleep(seconds_of_work(body))
    workqueue.say(" [x] Done")


class Ack:
    """Acknowledges one delivery, never on a channel that has died since the
    task came. Used on the I/O loop only."""

    def __init__(self, channel, delivery_tag):
        self.channel = channel
        self.delivery_tag = delivery_tag

    def possible(self):
        return self.channel.is_open

    def send(self):
        if self.channel.is_open:
            self.channel.basic_ack(self.delivery_tag)
        else:
            workqueue.complain("the task's channel closed before its ack; the broker will deliver the task again")

    def requeue(self):
        if self.channel.is_open:
            self.channel.basic_nack(self.delivery_tag, requeue=True)


if __name__ == "__main__":
    main()
