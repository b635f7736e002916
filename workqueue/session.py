"""The session with the broker, on pika's asynchronous SelectConnection: one
connection at a time, made over the URLs in turn; a channel; the script's
steps sent in turn, each answered within --timeout; and one way out,
`ended(problem)`, however the connection ends. Runs on pika's I/O loop."""

import functools

import pika
from pika.adapters.select_connection import IOLoop

from workqueue import problems

CLOSE_GRACE = 0.5  # s the broker has to answer our close before we drop the connection


class Step:
    """A request, and the deadline's words for its answer ("answer basic.qos").
    send(channel, done) sends it; pika calls done(frame) with the answer. A
    step is known by its identity, as `session.waiting_for`."""

    __slots__ = ("what", "send")

    def __init__(self, what, send=None):
        self.what = what
        self.send = send


class Session:
    """`steps()`: the requests to send on each new channel, in turn; then
    `ready(channel)`. `channel_closed(reason, step)`: the broker closed the
    channel while we waited for `step` (or None); it returns None to set up
    again on a new channel, else the problem to give the connection up for.
    `ended(problem)`: the connection ended, or could not be made; the problem
    is an exception or our own words, None if we closed it as asked."""

    def __init__(self, settings, steps, ready, ended, channel_closed):
        self.parameters = settings.parameters  # tried in this order
        self.timeout = settings.timeout
        self.steps, self.ready, self.ended, self.channel_closed = steps, ready, ended, channel_closed
        self.ioloop = IOLoop()
        self.connection = self.channel = None
        self.connected_to = None  # the parameters of the connection made, once it is
        self.waiting_for = None  # the Step the deadline is for
        self._deadline = None
        self._connecting = None  # a token for the connection attempt under way
        self._later = None  # the timer of connect_later
        self._closing = False  # we asked for the close
        self._problem = None  # why we gave the connection up

    def connect_later(self, delay):
        """connect() in `delay` s, unless close() comes first."""
        self._later = self.ioloop.call_later(delay, self.connect)

    def connect(self):
        self._later = None
        self.connected_to = None
        self._connecting = object()  # this attempt, as opposed to one we have given up
        pika.SelectConnection.create_connection(
            self.parameters, functools.partial(self._on_connected, self._connecting), custom_ioloop=self.ioloop
        )

    def _on_connected(self, attempt, connection):
        if attempt is not self._connecting:  # given up (pika cannot abort a handshake under way)
            if not isinstance(connection, BaseException):
                connection.close()
            return
        self._connecting = None
        if isinstance(connection, BaseException):
            self._end(problems.connection_error(connection))
            return
        self.connection, self.connected_to = connection, connection.params
        connection.add_on_close_callback(lambda _connection, reason: self._end(reason))
        self.open_channel()

    def open_channel(self):
        self.expect(OPEN_CHANNEL)
        self.connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel):
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        self.in_turn(self.steps(), lambda: self.ready(channel))

    def in_turn(self, steps, then):
        """Send each step on the channel once the broker has answered the one
        before, each within --timeout; then call then(). (One sequence at a
        time: the deadline is the session's.)"""
        self._next_step(iter(steps), then)

    def _next_step(self, steps, then, _frame=None):
        step = next(steps, None)
        if step is None:
            self.answered()
            then()
            return
        self.expect(step)
        step.send(self.channel, functools.partial(self._next_step, steps, then))

    # Deadlines.
    def expect(self, step):
        """The broker should now do what `step` says: give the connection up
        if it does not within --timeout."""
        self.answered()
        self.waiting_for = step
        self._deadline = self.ioloop.call_later(self.timeout, self._no_answer)

    def answered(self, step=None):
        """The broker answered (`step`: only if the deadline is still that step's)."""
        if step is not None and step is not self.waiting_for:
            return  # a later step's deadline runs now
        if self._deadline is not None:
            self.ioloop.remove_timeout(self._deadline)
        self._deadline = self.waiting_for = None

    def _no_answer(self):
        what, self._deadline = self.waiting_for.what, None
        self.give_up(f"the broker at {problems.where(self.parameters_in_use())} did not {what} within {self.timeout:g} s")

    # What ends a connection.
    def _on_channel_closed(self, channel, reason):
        if channel is not self.channel:
            return  # one we had replaced
        self.channel = None
        step = self.waiting_for
        self.answered()
        if self._closing or self.connection is None or not self.connection.is_open:
            return  # the connection's end says why
        problem = self.channel_closed(reason, step)
        if problem is None:
            self.open_channel()
        else:
            self.give_up(problem)

    def give_up(self, problem):
        """End this connection because of `problem`, which is what `ended`
        hears, whatever the broker answers to our close."""
        if self._problem is None:
            self._problem = problem
        self.close()

    def close(self):
        """Close the connection (the broker requeues the tasks it had handed
        out and that are not acked); drop it if the broker does not answer."""
        self._closing = True
        self.answered()
        if self._later is not None:
            self.ioloop.remove_timeout(self._later)
            self._later = None
        if self.connection is None:
            self._connecting = None
            self._end(None)
        elif self.connection.is_open:
            close_within(self.ioloop, self.connection, CLOSE_GRACE)

    def _end(self, reason):
        problem = self._problem if self._problem is not None or self._closing else reason
        self.answered()
        self.connection = self.channel = None
        self._closing, self._problem = False, None
        self.ended(problem)

    def parameters_in_use(self):
        """The connection's parameters (or all of them, between connections)."""
        return [self.connection.params] if self.connection is not None else self.parameters

    def explain(self, problem):
        """problems.explain, naming every URL: between connections."""
        return problems.explain(problem, self.parameters)


OPEN_CHANNEL = Step("open a channel")


def close_within(ioloop, connection, grace):
    """Close `connection`; drop it if the broker has not answered within
    `grace` s (pika has no public call for that: the broker sees its socket
    close)."""
    connection.close()

    def drop():
        if not connection.is_closed:
            connection._adapter_disconnect_stream()

    ioloop.call_later(grace, drop)
