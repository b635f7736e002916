#!/usr/bin/env python3
"""Take tasks from the work queue, one at a time: ./worker.py

Each '.' in a task is one second of (fake) work; the task is acknowledged
only once the work is done, so a task whose worker dies goes to another.
"""

import functools
import queue
import random
import signal
import sys
import threading
import time

import pika

import workqueue

WAITING = " [*] Waiting for messages. To exit press CTRL+C"


def main():
    args = parse_arguments()
    parameters = workqueue.connection_parameters(args.parser, args.url)
    sys.stdout.reconfigure(line_buffering=True)  # show each line at once, even in a pipe
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    tasks = TaskThread()
    retry = Backoff()
    connection = None
    try:
        while True:
            try:
                connection = pika.BlockingConnection(parameters)
                channel = connection.channel()
                workqueue.declare_queue(channel, args)
                channel.basic_qos(prefetch_count=args.prefetch)
                on_message = functools.partial(hand_over, tasks, manual_ack=not args.no_ack)
                channel.basic_consume(args.queue, on_message, auto_ack=args.no_ack)
                print(WAITING)
                retry.reset()
                channel.start_consuming()
                log("the broker cancelled our consumer (was the queue deleted?); consuming again")
            except workqueue.BROKER_ERRORS as exc:
                if workqueue.is_fatal(exc):
                    workqueue.fail(workqueue.describe(exc, parameters))
                retry.wait(workqueue.describe(exc, parameters))
    except KeyboardInterrupt:
        close_quietly(connection)
        sys.exit(130)
    except Stop:
        close_quietly(connection)
        sys.exit(0)


def parse_arguments():
    parser = workqueue.argument_parser("Take tasks from the work queue, one at a time.")
    parser.add_argument(
        "--prefetch",
        type=workqueue.integer_at_least(0, "non-negative integer"),
        default=1,
        help="tasks the broker may hand this worker before it acks (default: %(default)s, "
        "fair dispatch; 0 means unlimited, the tutorial's plain round-robin)",
    )
    parser.add_argument(
        "--no-ack",
        action="store_true",
        help="automatic acks: a task is lost if the worker dies (the tutorial's demonstration)",
    )
    args = parser.parse_args()
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
        log(f"{reason}; retrying in {delay:.1f} s")
        time.sleep(delay)


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
        threading.Thread(target=self._run, name="tasks", daemon=True).start()

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
            if alive:
                work(body, note)
            self._tasks.task_done()  # before the ack, which may bring the next task at once
            if ack is not None and alive:
                ack.send_from_another_thread()


def seconds_of_work(body):
    return body.count(b".")


def work(body, note):
    try:
        task = repr(body.decode("utf-8"))
    except UnicodeDecodeError:
        task = repr(body)  # show the bytes readably; the dots still count
    print(f" [x] Received {task}{note}")
    time.sleep(seconds_of_work(body))
    print(" [x] Done")


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
        log("the connection was lost before the ack; the broker will deliver the task again")


class Stop(BaseException):
    """Raised by SIGTERM, to leave the I/O loop the way Ctrl+C does."""


def stop_on_sigterm(signum, frame):
    raise Stop


def close_quietly(connection):
    """Close without acking the task at hand: the broker requeues it."""
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except Exception:
        pass  # we are leaving anyway; the broker notices the closed socket


def log(message):
    print(f"worker.py: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
