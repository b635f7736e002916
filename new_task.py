#!/usr/bin/env python3
"""Send a task to the work queue: ./new_task.py First message.
or many, one a line, from standard input: seq 1000 | ./new_task.py -

Each '.' in a task is one second of work for the worker that takes it.
' [x] Sent ...' is printed once the broker has confirmed the task.
"""

import collections
import os
import signal
import sys
import threading

import workqueue  # first: it says what to do if pika is not installed

import pika


def main():
    parser = workqueue.argument_parser("Send a task to the work queue.")
    parser.add_argument(
        "words", nargs="*",
        help="the task, one second of work per '.' (default: Hello World!); "
        "a single '-' reads tasks from standard input, one a line",
    )
    args = workqueue.parse_arguments(parser)
    parameters = workqueue.connection_parameters(parser, args)
    workqueue.line_by_line_output()
    from_input = args.words == ["-"]
    if from_input:
        tasks = lines_of(sys.stdin.fileno())
    else:
        message = " ".join(args.words) or "Hello World!"
        # surrogateescape: bytes that are not UTF-8 in argv go out as given
        tasks = [(1, message.encode("utf-8", "surrogateescape"))]

    publisher = Publisher(parameters, args, tasks, from_input)
    publisher.catch(signal.SIGINT)
    try:
        publisher.run()
    except workqueue.OutputLost as exc:
        workqueue.drop_output()
        publisher.problem, publisher.code = f"standard output is gone ({exc})", 1
    if publisher.problem:
        publisher.fail()


def lines_of(fd):
    """(line number, task) for each line of the file `fd` that is not empty.
    It reads the file descriptor itself: a thread blocked reading sys.stdin
    holds its lock, and Python aborts if it exits meanwhile."""
    if os.isatty(fd):
        workqueue.complain(f"reading tasks, one a line; end with {workqueue.END_OF_INPUT}")
    buffer = bytearray()
    number = 0
    while chunk := os.read(fd, 1 << 16):
        buffer += chunk
        if b"\n" not in chunk:
            continue  # a long line: wait for its end
        *lines, rest = buffer.split(b"\n")
        buffer = bytearray(rest)
        for line in lines:
            number += 1
            if line.rstrip(b"\r"):
                yield number, bytes(line.rstrip(b"\r"))
    if buffer.rstrip(b"\r"):  # the last line, with no newline after it
        yield number + 1, bytes(buffer.rstrip(b"\r"))


class Publisher(workqueue.Client):
    """Sends the tasks over one connection as they come (as a user types them,
    say), with publisher confirms: the broker confirms each task once it has
    it, on disk for a durable queue. ' [x] Sent' follows the confirm, in the
    order the tasks came.

    Confirms are pipelined: up to WINDOW tasks are on their way at once, rather
    than one round trip a task, which is all pika's BlockingConnection can do.
    So this runs on pika's asynchronous SelectConnection (workqueue.Client
    connects and declares); a thread reads the tasks.
    """

    WINDOW = 1000

    def __init__(self, parameters, args, tasks, from_input):
        super().__init__(parameters, args)
        self.tasks = tasks  # (line number, task) pairs
        self.from_input = from_input  # else one task, from the command line
        self.space = threading.Semaphore(self.WINDOW)
        self.unconfirmed = collections.deque()  # (delivery tag, line, task), in order
        self.confirmed = set()  # tags confirmed one by one, ahead of older tags
        self.confirmed_up_to = 0  # tags confirmed all at once ("multiple")
        self.refused = {}  # tag: why, for tasks nacked or returned
        self.published = 0
        self.sent = 0
        self.next_line = 1
        self.all_read = False
        self.problem = None  # why it stopped before the end, in one line
        self.code = 0  # the exit code that goes with it

    # After the declarations (workqueue.Client): confirms on.
    def steps(self, channel):
        channel.add_on_return_callback(self.on_returned)
        return [("answer confirm.select", lambda done: channel.confirm_delivery(self.on_confirm, callback=done))]

    def ready(self):
        self.connection.add_on_connection_blocked_callback(self.on_blocked)
        threading.Thread(target=self.read, name="reader", daemon=True).start()

    # Publish each task as the reader thread hands it over.
    def read(self):
        """On the reader thread: hand the tasks to the I/O loop, WINDOW at most
        unconfirmed. A task is read only when there is room for it."""
        try:
            for line, task in self.tasks:
                self.space.acquire()
                self.ioloop.add_callback_threadsafe(lambda line=line, task=task: self.publish(line, task))
            self.ioloop.add_callback_threadsafe(self.end_of_tasks)
        except OSError as exc:
            problem = f"cannot read standard input: {exc.strerror or exc}"
            self.ioloop.add_callback_threadsafe(lambda: self.stop(problem))

    def publish(self, line, task):
        if self.refused or self.problem is not None or self.channel is None:
            return  # no more tasks after one the broker did not take, or the connection's end
        self.channel.basic_publish(
            exchange="",
            routing_key=self.args.queue,
            body=task,
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
            mandatory=True,  # returned, not dropped, if no queue takes it
        )
        self.published += 1  # the channel's delivery tags count 1, 2, 3 ...
        self.unconfirmed.append((self.published, line, task))
        if self.waiting_for is None:
            self.expect_confirm()

    def expect_confirm(self):
        """A deadline for the oldest task not yet confirmed."""
        line = self.unconfirmed[0][1]
        self.expect(f"confirm the task on line {line} of the input" if self.from_input else "confirm the task")

    def on_confirm(self, frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            for tag, _line, _task in self.unconfirmed:
                if tag == method.delivery_tag or (method.multiple and tag < method.delivery_tag):
                    self.refused.setdefault(tag, "the broker refused a task (nack); it was not queued")
        elif method.multiple:
            self.confirmed_up_to = method.delivery_tag
        else:
            self.confirmed.add(method.delivery_tag)
        self.report_sent()

    def on_returned(self, _channel, _method, _properties, body):
        """The broker returns a task that no queue took, then confirms it."""
        for tag, _line, task in self.unconfirmed:
            if task == body and tag not in self.refused:
                self.refused[tag] = f"the broker returned a task: no queue {self.args.queue!r} took it"
                break

    def report_sent(self):
        """' [x] Sent' for the confirmed tasks, in order, up to the first one
        that was refused or returned, where it stops."""
        while self.unconfirmed and self.problem is None:
            tag, line, task = self.unconfirmed[0]
            if tag in self.refused:
                self.stop(self.refused[tag])
                return
            if tag > self.confirmed_up_to and tag not in self.confirmed:
                break
            self.unconfirmed.popleft()
            self.confirmed.discard(tag)
            workqueue.say(f" [x] Sent {workqueue.shown(task)}")
            self.sent += 1
            self.next_line = line + 1
            self.space.release()
            self.answered()
        if self.unconfirmed and self.waiting_for is None:
            self.expect_confirm()
        self.close_when_done()

    def end_of_tasks(self):
        self.all_read = True
        self.close_when_done()

    def close_when_done(self):
        if self.all_read and not self.unconfirmed and self.problem is None:
            self.close()

    # What ends it early.
    def on_blocked(self, _connection, _frame):
        workqueue.complain(
            "the broker is blocking publishers (it is short of memory or disk space); "
            f"waiting up to {self.args.timeout:g} s for it"
        )

    def on_signal(self, _signum):  # Ctrl+C
        self.stop("interrupted", code=130)

    def stop(self, problem, code=1):
        """Stop at the first problem; the tasks not yet confirmed are not reported sent."""
        if self.problem is None:
            self.problem, self.code = problem, code
        self.close()

    def ended(self, problem):
        if self.problem is None and problem is not None:
            self.problem, self.code = workqueue.describe(problem, self.parameters), 1
        self.ioloop.stop()

    def fail(self):
        """Exit, saying what went wrong and what became of the tasks."""
        problem = self.problem
        if self.from_input:
            first_unsent = self.unconfirmed[0][1] if self.unconfirmed else self.next_line
            sent = f"{self.sent} task{'' if self.sent == 1 else 's'} sent"
            problem += f"; {sent}; none from line {first_unsent} of the input on is known to be sent"
        elif self.sent:
            problem += "; the task was sent"
        elif self.published:
            problem += "; the task was not confirmed: it may or may not be in the queue"
        elif self.code == 130:
            problem += "; the task was not sent"
        workqueue.complain(f"error: {problem}" if self.code == 1 else problem)
        sys.exit(self.code)


if __name__ == "__main__":
    main()
