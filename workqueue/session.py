"""The session with the broker, on pika's asynchronous SelectConnection: one
connection at a time, made over the URLs in the order given; a channel on
it; requests, each with a deadline of its own for its answer (--timeout);
and one way out, `ended(problem)`, however the connection ends. Runs on
pika's I/O loop."""

import functools

import pika
from pika.adapters.select_connection import IOLoop

from workqueue import problems

CLOSE_GRACE = 0.5  # s the broker has to answer our close before we drop the connection


class Request:
    """A request, and the deadline's words for its answer ("answer basic.qos").
    send(channel, done) sends it; done(frame) is called with the answer."""

    __slots__ = ("what", "send")

    def __init__(self, what, send=None):
        self.what = what
        self.send = send


class Session:
    """`opened(channel)`: a new channel is open. `channel_closed(reason,
    asked)`: the broker closed the channel while these requests waited for
    an answer; it returns None to open a new channel, else the problem to
    give the connection up for. `ended(problem)`: the connection ended, or
    could not be made; the problem is an exception or our own words, None if
    we closed it as asked. `bug(exc)`: an exception of ours, out of a
    callback pika called."""

    def __init__(self, settings, opened, channel_closed, ended, bug):
        self.timeout = settings.timeout
        self.parameters = settings.parameters  # all of them, in the order given
        self.opened, self.channel_closed, self.ended, self.bug = opened, channel_closed, ended, bug
        self.ioloop = IOLoop()
        self.connection = self.channel = None
        self.connected_to = None  # the parameters of the connection made, once it is
        self._asked = {}  # request: its deadline's timer, for requests not yet answered
        self._connecting = None  # a token for the connection attempt under way
        self._later = None  # the timer of connect_later
        self._closing = False  # we asked for the close
        self._problem = None  # why we gave the connection up

    def connect_later(self, delay, parameters):
        """connect(parameters) in `delay` s, unless close() comes first."""
        self._later = self.ioloop.call_later(delay, functools.partial(self.connect, parameters))

    def connect(self, parameters):
        """Connect to the first of `parameters` that answers (pika tries them in turn)."""
        self._later = None
        self.connected_to = None
        self._connecting = attempt = object()  # this attempt, as opposed to one we have given up
        pika.SelectConnection.create_connection(
            parameters, self.guarded(functools.partial(self._on_connected, attempt)), custom_ioloop=self.ioloop)

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
        connection.add_on_close_callback(self.guarded(lambda _connection, reason: self._end(reason)))
        self.open_channel()

    def open_channel(self):
        self.ask(OPEN_CHANNEL, self._on_channel_open,
                 lambda _channel, done: self.connection.channel(on_open_callback=done), on_channel=False)

    def _on_channel_open(self, channel):
        self.channel = channel
        channel.add_on_close_callback(self.guarded(self._on_channel_closed))
        self.opened(channel)

    # Requests, each with its deadline.
    def ask(self, request, answered, send=None, on_channel=True):
        """Send `request` on the channel (or send(channel, done) instead of
        its own); answered(frame) once the broker answers. Past --timeout
        without an answer, the connection is given up."""
        if on_channel and (self.channel is None or not self.channel.is_open):
            return  # it is closing: ended() or channel_closed() comes next
        timer = self.ioloop.call_later(self.timeout, functools.partial(self._no_answer, request))
        self._asked[request] = timer

        def done(frame=None):
            if self._asked.get(request) is timer:
                self.ioloop.remove_timeout(self._asked.pop(request))
                answered(frame)

        (send or request.send)(self.channel, self.guarded(done))

    def asked(self, request):
        """Whether `request` is still waiting for its answer."""
        return request in self._asked

    def _no_answer(self, request):
        self._asked.pop(request, None)
        self.give_up(f"the broker at {problems.where(self.parameters_in_use())} did not "
                     f"{request.what} within {self.timeout:g} s")

    def _forget_requests(self):
        for timer in self._asked.values():
            self.ioloop.remove_timeout(timer)
        self._asked.clear()

    def guarded(self, callback):
        """callback(*args) as pika calls it: an exception out of it is ours,
        and said so (pika would take it for a lost connection)."""
        def call(*args):
            try:
                return callback(*args)
            except Exception as exc:
                self.bug(exc)
        return call

    # What ends a connection.
    def _on_channel_closed(self, channel, reason):
        if channel is not self.channel:
            return  # one we had replaced
        self.channel = None
        asked = list(self._asked)
        self._forget_requests()
        if self._closing or self.connection is None or not self.connection.is_open:
            return  # the connection's end says why
        problem = self.channel_closed(reason, asked)
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
        self._forget_requests()
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
        self._forget_requests()
        self.connection = self.channel = None
        self._closing, self._problem = False, None
        self.ended(problem)

    def parameters_in_use(self):
        """The connection's parameters (or all of them, between connections)."""
        return [self.connection.params] if self.connection is not None else self.parameters

    def explain(self, problem):
        """problems.explain, naming every URL: between connections."""
        return problems.explain(problem, self.parameters)


OPEN_CHANNEL = Request("open a channel")


def close_within(ioloop, connection, grace):
    """Close `connection`; drop it if the broker has not answered within
    `grace` s (pika has no public call for that: the broker sees its socket
    close)."""
    connection.close()

    def drop():
        if not connection.is_closed:
            connection._adapter_disconnect_stream()

    ioloop.call_later(grace, drop)
