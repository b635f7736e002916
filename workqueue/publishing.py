"""new_task.py's side of the connection: confirm_delivery and basic_publish
as the tutorial calls them, and close. The tasks go out as they come (as a
user types them, say), up to WINDOW on their way at once rather than one
round trip a task; the script's confirm callback hears each task confirmed,
in order. At the first problem (a task refused or returned, a deadline, a
lost connection, Ctrl+C) it stops and says what became of the tasks."""

import signal
import time

import pika

from workqueue import exits, failures, output, signals
from workqueue.confirms import CONFIRMED, RETURNED, Confirms
from workqueue.session import Request

WINDOW = 1000  # tasks on their way, not yet confirmed
# While tasks keep coming, a turn of the I/O loop at least this often: the
# tasks published meanwhile go out, and the confirms come in.
TURN_AT_LEAST_EVERY = 0.01  # s


class Publisher:
    SIGNALS = [signal.SIGINT, *signals.HANG_UP]

    def __init__(self, connection, settings):
        self.connection, self.session, self.settings = connection, connection.session, settings
        self.confirms = Confirms()
        self.on_sent = None  # the script's confirm callback
        self.from_input = settings.words == ["-"]  # tasks from standard input, whose lines the words name
        self.sent = 0
        self.next_line = 1  # the line after the last task said sent
        self.waiting_for = None  # the Request whose deadline is the oldest task's confirm, and its done()
        self.turned_at = time.monotonic()
        self.closed = False  # the connection, at the end

    def opened(self, channel):
        channel.add_on_return_callback(self.session.guarded(self._on_returned))
        self.session.connection.add_on_connection_blocked_callback(self.session.guarded(self._on_blocked))

    def confirm_delivery(self, on_sent):
        self.on_sent = on_sent
        return Request("answer confirm.select", lambda channel, done: channel.confirm_delivery(
            self.session.guarded(self._on_confirm), callback=done))

    def basic_publish(self, exchange, routing_key, body, properties):
        """Publish now; wait only while WINDOW tasks are on their way."""
        if len(self.confirms.unanswered) >= WINDOW:
            self.connection.run_until(lambda: len(self.confirms.unanswered) < WINDOW // 2)
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")  # bytes that are not UTF-8 in argv go out as given
        line = getattr(body, "number", 1)  # its line, for a task from standard input
        self.session.channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        self.confirms.publish((line, body), body)
        if self.waiting_for is None:
            self._expect()
        if time.monotonic() - self.turned_at > TURN_AT_LEAST_EVERY:
            self.turn()

    def turn(self):
        """One turn of the I/O loop that does not wait."""
        self.turned_at = time.monotonic()
        ioloop = self.session.ioloop
        ioloop.call_later(0, _nothing)
        ioloop.poll()
        ioloop.process_timeouts()

    def close(self):
        """Once every task is confirmed: the connection closed."""
        self.connection.run_until(lambda: not self.confirms.unanswered)
        self.session.close()
        self.connection.run_until(lambda: self.closed)

    # The broker's answers.
    def _on_confirm(self, method_frame):
        method = method_frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self.confirms.nack(method.delivery_tag, method.multiple)
        else:
            self.confirms.ack(method.delivery_tag, method.multiple)
        for (line, body), answer in self.confirms.answered():
            if answer is not CONFIRMED:
                self.next_line = line  # not sent: the first line not known to be
                self.confirms.unanswered.clear()
                self.stop(self._refused(answer), answered=True)
            try:
                self.on_sent(body)
            except output.OutputLost as exc:
                output.drop()
                self.output_lost(exc)
            self.sent += 1
            self.next_line = line + 1
        if self.waiting_for is not None and self.waiting_for[0] is not self.confirms.oldest():
            self.waiting_for[1]()  # the oldest task's deadline is over: the next one's
            self.waiting_for = None
            if self.confirms.unanswered:
                self._expect()

    def _refused(self, answer):
        if answer is RETURNED:
            return f"the broker returned a task: no queue {self.settings.queue!r} took it"
        return "the broker refused a task (nack); it was not queued"

    def _on_returned(self, _channel, _method, _properties, body):
        self.confirms.returned(body)

    def _expect(self):
        """A deadline for the oldest task not yet confirmed: its Request is
        answered (done()) once that task is."""
        oldest = self.confirms.oldest()
        line = self.first_unsent_line()
        what = f"confirm the task on line {line} of the input" if self.from_input else "confirm the task"

        def expect(_channel, done):
            self.waiting_for = (oldest, done)

        self.session.ask(Request(what), _nothing, send=expect)

    def _on_blocked(self, _connection, _frame):
        output.complain("the broker is blocking publishers (it is short of memory or disk space); "
                        f"waiting up to {self.settings.timeout:g} s for it")

    def first_unsent_line(self):
        """The first line of the input not known to be sent."""
        oldest = self.confirms.oldest()
        return oldest[0] if oldest is not None else self.next_line

    # What ends it.
    def channel_closed(self, reason, _asked):
        return reason

    def ended(self, problem):
        self.closed = True
        if problem is not None:
            self.stop(self.session.explain(problem).text)

    def output_lost(self, why):
        self.stop(f"standard output is gone ({why})")

    def on_signal(self, signum):
        if signum == signal.SIGINT:
            self.stop("interrupted", exits.INTERRUPTED)
        self.stop("hung up (SIGHUP)", exits.HUNG_UP)

    def bug(self, exc):
        self.stop(f"a bug of ours: {failures.ours(exc)} (please report it)", exits.SOFTWARE)

    def stop(self, problem, code=exits.FAILED, answered=False):
        """Exit at the first problem, saying what became of the tasks: those
        not confirmed are not said sent. `answered`: the problem is the
        broker's answer for the oldest task (refused, returned)."""
        if self.from_input:
            sent = f"{self.sent} task{'' if self.sent == 1 else 's'} sent"
            problem += f"; {sent}; none from line {self.first_unsent_line()} of the input on is known to be sent"
        elif self.sent:
            problem += "; the task was sent"
        elif answered:
            pass  # the problem says what became of it
        elif self.confirms.unanswered:
            problem += "; the task was not confirmed: it may or may not be in the queue"
        elif code in (exits.INTERRUPTED, exits.HUNG_UP):
            problem += "; the task was not sent"
        exits.leave(f"error: {problem}" if code == exits.FAILED else problem, code)


def _nothing(*_args):
    pass
