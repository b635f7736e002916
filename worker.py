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

import pika

WAITING = " [*] Waiting for messages. To exit press CTRL+C"


def main():
    args = parse_arguments()
    parameters = workqueue.connection_parameters(args.parser, args)
    workqueue.line_by_line_output()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    tasks = TaskThread()
    retry = Backoff()
    connection = None
    try:
        while True:
            try:
                connection = pika.BlockingConnection(parameters)
                channel = workqueue.declare_queue(connection, args)
                channel.basic_qos(prefetch_count=args.prefetch)
                on_message = functools.partial(hand_over, tasks, manual_ack=not args.no_ack)
                channel.basic_consume(args.queue, on_message, auto_ack=args.no_ack)
                workqueue.say(WAITING)
                retry.reset()
                channel.start_consuming()
                problem = why_cancelled(connection, args.queue)
            except workqueue.BROKER_ERRORS as exc:
                if workqueue.is_fatal(exc, parameters):
                    workqueue.fail(workqueue.describe(exc, parameters))
                problem = workqueue.describe(exc, parameters)
            close_quietly(connection)  # one connection at a time, never a leftover
            retry.wait(problem)
    except KeyboardInterrupt:
        leave(connection, tasks, args, "interrupted", 130)
    except Stop:
        leave(connection, tasks, args, "stopped (SIGTERM)", 0)
    except workqueue.OutputLost as exc:
        workqueue.drop_output()
        leave(connection, tasks, args, f"standard output is gone ({exc}): stopping", 1, in_hand=True)


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
    args = parser.parse_args()
    if args.no_ack and args.prefetch is not None:
        parser.error("--prefetch has no effect with --no-ack: the broker sends every task at once")
    if args.prefetch is None:
        args.prefetch = 1
    args.parser = parser
    return args


class Backoff:
    """Capped exponential backoff, with jitter so that restarted workers do not
    all knock at once; one line on stderr per wait."""

    FIRST, CAP = 0.5, 10.0

    def __init__(self):
        self.attempt = 0

    def reset(self):
        self.attempt = 0

    def wait(self, reason):
        delay = min(self.CAP, self.FIRST * 2**self.attempt) * random.uniform(0.8, 1.0)
        self.attempt += 1
        workqueue.complain(f"{reason}; retrying in {delay:.1f} s")
        time.sleep(delay)


def why_cancelled(connection, queue_name):
    """start_consuming() returned: the broker cancelled our consumer. Say why."""
    try:
        connection.channel().queue_declare(queue_name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:  # NOT_FOUND
            return f"the broker cancelled our consumer: queue {queue_name!r} was deleted"
        raise
    return (
        "the broker cancelled our consumer (RabbitMQ 4.x does this when a task "
        "outlasts consumer_timeout, and gives the task to another worker)"
    )


def hand_over(tasks, channel, method, properties, body, manual_ack):
    """pika's callback. It runs on the I/O loop, which must not block."""
    ack = Ack(channel, method.delivery_tag) if manual_ack else None
    tasks.do(body, redelivery_note(method, properties), ack)


def redelivery_note(method, properties):
    """' (redelivered)', with the delivery's number where the queue counts them."""
    if not method.redelivered:
        return ""
    earlier = (properties.headers or {}).get("x-delivery-count")  # quorum queues
    return f" (redelivered, delivery {earlier + 1})" if earlier else " (redelivered)"


class TaskThread:
    """Does the tasks one at a time on a thread of its own, so that pika's I/O
    loop goes on answering heartbeats however long a task takes."""

    def __init__(self):
        self._tasks = queue.Queue()
        self._output_lost = None
        # The thread wakes the main thread with this signal when stdout is gone:
        # a signal interrupts it wherever it waits (pika's I/O loop, a backoff).
        signal.signal(signal.SIGUSR1, self._raise_output_lost)
        threading.Thread(target=self._run, name="tasks", daemon=True).start()

    def unfinished(self):
        return self._tasks.unfinished_tasks

    def do(self, body, note, ack):
        if seconds_of_work(body) == 0 and self._tasks.unfinished_tasks == 0:
            # Nothing to wait for, nothing queued before it: done right here.
            # A hand-off costs two thread wake-ups (~0.1 ms) and protects nothing.
            work(body, note)
            if ack is not None:
                ack.send()
        else:
            self._tasks.put((body, note, ack))

    def _run(self):
        while True:
            body, note, ack = self._tasks.get()
            # A task whose connection is gone is not done: the broker gives it out again.
            alive = ack is None or ack.possible()
            try:
                if alive:
                    work(body, note)
            except workqueue.OutputLost as exc:
                self._output_lost = exc  # the task stays unfinished and unacked
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return
            self._tasks.task_done()  # before the ack, which may bring the next task at once
            if ack is not None and alive:
                ack.send_from_another_thread()

    def _raise_output_lost(self, signum, frame):
        if self._output_lost is not None:
            raise self._output_lost


def seconds_of_work(body):
    return body.count(b".")


def work(body, note):
    workqueue.say(f" [x] Received {workqueue.shown(body)}{note}")
    time.sleep(seconds_of_work(body))
    workqueue.say(" [x] Done")


class Ack:
    """Acknowledges one delivery on the connection's own thread, and never on a
    channel that has died since the task came."""

    def __init__(self, channel, delivery_tag):
        self.channel = channel
        self.delivery_tag = delivery_tag

    def possible(self):
        return self.channel.is_open

    def send(self):
        if self.channel.is_open:
            self.channel.basic_ack(self.delivery_tag)
        else:
            self._not_acked()

    def send_from_another_thread(self):
        try:
            self.channel.connection.add_callback_threadsafe(self.send)
        except pika.exceptions.ConnectionWrongStateError:
            self._not_acked()

    @staticmethod
    def _not_acked():
        workqueue.complain("the task's channel closed before its ack; the broker will deliver the task again")


class Stop(BaseException):
    """Raised by SIGTERM, to leave the I/O loop the way Ctrl+C does."""


def stop_on_sigterm(signum, frame):
    raise Stop


def leave(connection, tasks, args, reason, code, in_hand=False):
    """Close without acking the tasks in hand: the broker gives them to other
    workers (with --no-ack it has forgotten them already)."""
    # A second Ctrl+C or SIGTERM while closing leaves at once, without a traceback.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: os._exit(code))
    close_quietly(connection)
    if in_hand or tasks.unfinished():
        reason += (
            "; the tasks it had taken are lost (--no-ack)"
            if args.no_ack
            else "; its unfinished task goes back to the queue"
        )
    if code == 130 and sys.stderr.isatty():
        print(file=sys.stderr)  # off the line where the terminal echoed ^C
    workqueue.complain(reason)
    sys.exit(code)


def close_quietly(connection):
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except Exception:
        pass  # we are leaving this connection anyway; the broker notices the closed socket


if __name__ == "__main__":
    main()
