"""What new_task.py and worker.py share: options, the broker session, output,
and error messages.

Both scripts declare the task queue exactly as the tutorial does (declaring is
idempotent, and whichever starts first creates it), wait for nothing without
a deadline, and explain a broker's refusal in one line instead of a traceback.
"""

import argparse
import collections
import copy
import functools
import os
import re
import signal
import ssl
import sys
import urllib.parse

SCRIPT = os.path.basename(sys.argv[0])
ON_WINDOWS = sys.platform == "win32"
# What the user types, where the two kinds of consoles differ.
ACTIVATE = r".venv\Scripts\activate" if ON_WINDOWS else ". .venv/bin/activate"
END_OF_INPUT = "Ctrl+Z then Enter" if ON_WINDOWS else "Ctrl+D"

try:
    import pika
    import pika.exceptions
    from pika.adapters.select_connection import IOLoop
    from pika.adapters.utils import connection_workflow
except ModuleNotFoundError:  # run outside the virtual environment
    sys.exit(
        f"{SCRIPT}: error: pika is not installed for {sys.executable}: activate the "
        f"virtual environment ({ACTIVATE}) or pip install -r requirements.txt"
    )

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
DEFAULT_QUEUE = "test_dur"  # the tutorial's durable queue
# Where the broker's policy (rabbitmq/definitions/policies.json) sends a task
# that has used up its deliveries: the queue NAME.dead, bound by NAME.
DEAD_LETTER_EXCHANGE = "work-queues.dead"
# How long the scripts wait for the broker: to connect to one URL, for each
# answer, for a confirm. Past it, the connection counts as lost. Long enough
# for a cluster to elect a queue's new leader when a node is lost.
DEFAULT_TIMEOUT = 30
EXIT_CONFIG = 78  # BSD's EX_CONFIG: what waiting cannot mend; a service manager should not restart


def argument_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--url",
        help="broker URL, with pika's query parameters such as ?heartbeat=10; "
        "several URLs separated by commas are tried in turn "
        f"(default: $AMQP_URL, else {DEFAULT_URL.replace('%', '%%')})",
    )
    parser.add_argument(
        "--queue", type=queue_name, default=DEFAULT_QUEUE,
        help="durable queue name (default: %(default)s)",
    )
    parser.add_argument(
        "--queue-type",
        choices=("classic", "quorum"),
        default="classic",
        help="classic: the tutorial's durable queue; quorum: replicated over a "
        "cluster, as today's tutorial declares task_queue (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help="how long to wait for the broker: to connect to a URL, for each of its answers "
        "and confirms; past it the connection counts as lost (default: %(default)s)",
    )
    return parser


def parse_arguments(parser):
    """parser.parse_args(), and no traceback when --help goes into a closed
    pipe (./worker.py --help | head -1)."""
    try:
        args = parser.parse_args()
    except SystemExit:
        flush_or_drop_output()
        raise
    except OSError:  # the help text was too long for the pipe
        drop_output()
        sys.exit(1)
    return args


def queue_name(text):
    """An argparse type: RabbitMQ takes names of 1 to 255 bytes. (An empty
    name would have the broker make up one, and leave that queue behind.)"""
    if not text:
        raise argparse.ArgumentTypeError("a queue needs a name (is a shell variable unset?)")
    if len(text.encode("utf-8", "surrogateescape")) > 255:
        raise argparse.ArgumentTypeError("a queue name has at most 255 bytes")
    return text


def seconds(text):
    """An argparse type for a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 86400 seconds")
    return value


def integer_between(low, high):
    """An argparse type for an integer in [low, high]."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def connection_parameters(parser, args):
    """One URLParameters per comma-separated URL, from --url, else $AMQP_URL;
    pika tries them in order."""
    if args.url is not None:
        source, urls = "argument --url", args.url
    elif os.environ.get("AMQP_URL"):
        source, urls = "AMQP_URL", os.environ["AMQP_URL"]
    else:
        source, urls = "default URL", DEFAULT_URL
    parameters = []
    urls_given = [u for u in (u.strip() for u in _URL_SEPARATOR.split(urls)) if u]
    for url in urls_given:
        if urllib.parse.urlsplit(url).scheme.lower() not in ("amqp", "amqps"):
            parser.error(f"{source}: {masked(url)!r} is not an amqp:// or amqps:// URL")
        try:
            parameters.append(pika.URLParameters(url))
        except Exception as exc:  # pika raises ValueError, IndexError, ... for a bad URL
            parser.error(f"{source}: {masked(url)!r}: {exc}")
    if not parameters:
        parser.error(f"{source}: no URL given")
    for each, url in zip(parameters, urls_given):
        # Names the connection in the broker's lists and management UI.
        each.client_properties = {
            "connection_name": f"{SCRIPT} (pid {os.getpid()})",
            **(each.client_properties or {}),
        }
        # --timeout bounds the connection's set-up, unless the URL says otherwise.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if "stack_timeout" not in query:
            each.stack_timeout = args.timeout
        if "socket_timeout" not in query:
            each.socket_timeout = min(each.socket_timeout, args.timeout)
    return parameters


# A comma starts another URL only before amqp:// or amqps:// (or at the end):
# pika's ?ssl_options={...}, which carries a client certificate, has commas too.
_URL_SEPARATOR = re.compile(r",(?=\s*(?:amqps?://|$))")


def masked(url):
    """The URL with its password as ***, fit to be shown."""
    userinfo, _, rest = urllib.parse.urlsplit(url).netloc.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return url.replace(f"{userinfo}@{rest}", f"{user}:***@{rest}", 1)


def queue_arguments(args):
    """The tutorial's declaration: a durable queue, quorum if asked for. Nothing
    else, so that any client declaring the queue as the tutorial does agrees
    with ours; the delivery limit and dead-lettering come from a policy."""
    return {"x-queue-type": "quorum"} if args.queue_type == "quorum" else {}


# Settings a queue may have beyond the tutorial's declaration, set by whoever
# created it (such as earlier versions of these scripts). They only add
# protection, so the scripts take such a queue as it is.
ADOPTABLE = {
    "x-delivery-limit": "delivery limit",
    "x-dead-letter-exchange": "dead-letter exchange",
    "x-dead-letter-routing-key": "dead-letter routing key",
}
_INEQUIVALENT = re.compile(r"inequivalent arg '([^']+)' for queue '([^']*)' in vhost '[^']*': (.*)")
_THEIRS_ONLY = re.compile(r"received none but current is the value '(.*)' of type '(\w+)'$")


def adoptable_setting(exc):
    """(argument, value) when `exc` refused our declaration only because the
    queue has one of the ADOPTABLE settings that ours leaves out; else None."""
    found = _INEQUIVALENT.search(getattr(exc, "reply_text", ""))
    if not found or found[1] not in ADOPTABLE:
        return None
    theirs = _THEIRS_ONLY.search(found[3])
    if not theirs:
        return None
    value, kind = theirs.groups()
    if kind == "longstr":
        return found[1], value
    return (found[1], int(value)) if kind in INTEGER_TYPES else None


INTEGER_TYPES = ("byte", "short", "signedint", "long", "unsignedbyte", "unsignedshort", "unsignedint")


def needs_dead_letter_queue(arguments, args):
    """Quorum queues count deliveries; the policy parks a task that used them
    all in NAME.dead, unless the queue has dead-letter settings of its own."""
    return args.queue_type == "quorum" and "x-dead-letter-exchange" not in arguments


class Client:
    """What both scripts do with the broker, on pika's asynchronous
    SelectConnection: connect (each URL in turn), open a channel, declare the
    queue as the tutorial does and, for a quorum queue, the dead-letter queue
    the policy feeds if it is missing, then the script's own `steps` and
    `ready`. Each answer is waited for under --timeout; past it the connection
    is given up, as if lost. The methods run on the I/O loop, in the order
    written; `ended(problem)` hears how a connection ended (None: as asked)."""

    TICK = 0.2  # s between looks at the signals caught: Windows' select() does not return for Ctrl+C
    CLOSE_GRACE = 0.5  # s the broker has to answer our close before we drop the connection

    def __init__(self, parameters, args):
        self.parameters = parameters  # tried in this order
        self.args = args
        self.arguments = queue_arguments(args)
        self.ioloop = IOLoop()
        self.connection = self.channel = None
        self.waiting_for = None  # what the deadline is for
        self._deadline = None
        self._connecting = None  # a token for the connection attempt under way
        self._closing = False  # we asked for the close
        self._problem = None  # why we gave the connection up
        self._signals = collections.deque()
        self._declaring = f"answer the declaration of queue {args.queue!r}"
        self._checking_dead_letters = f"answer a look for queue {args.queue + '.dead'!r}"
        self._dead_letters_missing = False
        self._said_adopted = False

    def run(self):
        """Connect, then run the I/O loop until the script stops it."""
        self.ioloop.call_later(self.TICK, self._tick)
        self.connect()
        self.ioloop.start()

    def catch(self, *signums):
        """Note these signals as they come; on_signal acts on them in the I/O
        loop, since a handler can interrupt pika anywhere."""
        for signum in signums:
            if signum == getattr(signal, "SIGBREAK", None):
                on_ctrl_break(functools.partial(self._signals.append, signum))
            else:
                signal.signal(signum, lambda signum, _frame: self._signals.append(signum))

    def _tick(self):
        while self._signals:
            self.on_signal(self._signals.popleft())
        self.ioloop.call_later(self.TICK, self._tick)

    # Connect, open a channel, declare.
    def connect(self):
        self.connected_to = None  # the parameters of the connection made, once it is
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
            self._end(connection_error(connection))
            return
        self.connection, self.connected_to = connection, connection.params
        connection.add_on_close_callback(lambda _connection, reason: self._end(reason))
        self._open_channel()

    def _open_channel(self):
        self.expect("open a channel")
        self.connection.channel(on_open_callback=self._set_up)

    def _set_up(self, channel):
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        steps = [
            (self._declaring, lambda done: channel.queue_declare(
                self.args.queue, durable=True, arguments=self.arguments, callback=done)),
        ]
        if needs_dead_letter_queue(self.arguments, self.args):
            steps += self._dead_letter_steps(channel)
        self.in_turn([*steps, *self.steps(channel)], self._on_set_up)

    def _dead_letter_steps(self, channel):
        """A look for NAME.dead and, only where it is missing, its declaration
        and binding: a binding needs the whole cluster's metadata store, which
        a network partition can hold up for a minute."""
        queue, dead = self.args.queue, f"{self.args.queue}.dead"
        if not self._dead_letters_missing:
            return [(self._checking_dead_letters, lambda done: channel.queue_declare(dead, passive=True, callback=done))]
        return [
            (f"answer the declaration of exchange {DEAD_LETTER_EXCHANGE!r}", lambda done: channel.exchange_declare(
                DEAD_LETTER_EXCHANGE, "direct", durable=True, callback=done)),
            (f"answer the declaration of queue {dead!r}", lambda done: channel.queue_declare(
                dead, durable=True, arguments={"x-queue-type": "quorum"}, callback=done)),
            (f"answer the binding of queue {dead!r}", lambda done: channel.queue_bind(
                dead, DEAD_LETTER_EXCHANGE, routing_key=queue, callback=done)),
        ]

    def _on_set_up(self):
        self._dead_letters_missing = False
        if not self._said_adopted:
            self._said_adopted = True
            say_adopted(self.arguments, self.args)
        self.ready()

    def in_turn(self, steps, then):
        """Send each request of `steps`, (what, request(callback)) pairs, once
        the broker has answered the one before, each under the deadline (see
        expect); then call `then()`."""
        if not steps:
            self.answered()
            then()
            return
        (what, request), rest = steps[0], steps[1:]
        self.expect(what)
        request(lambda _frame: self.in_turn(rest, then))

    # The script's part.
    def steps(self, channel):
        """Requests of the script's own, after the declarations (see in_turn)."""
        return []

    def ready(self):
        """All set up: the script goes on."""

    def on_signal(self, signum):
        """A signal caught (see catch)."""

    def channel_closed(self, reason, waiting_for):
        """The broker closed the channel, while we waited for `waiting_for`
        (None: for nothing)."""
        self.give_up(reason)

    def ended(self, problem):
        """The connection ended, or could not be made: `problem` is why (an
        exception or a line of text), None if we closed it as asked."""

    # Deadlines.
    def expect(self, what):
        """The broker should now `what` ("answer basic.qos", "confirm the
        task"): give the connection up if it does not within --timeout."""
        self.answered()
        self.waiting_for = what
        self._deadline = self.ioloop.call_later(self.args.timeout, self._no_answer)

    def answered(self):
        if self._deadline is not None:
            self.ioloop.remove_timeout(self._deadline)
        self._deadline = self.waiting_for = None

    def _no_answer(self):
        what, self._deadline = self.waiting_for, None
        self.give_up(
            f"the broker at {where(self.parameters_in_use())} did not {what} within {self.args.timeout:g} s"
        )

    # What ends a connection.
    def _on_channel_closed(self, channel, reason):
        if channel is not self.channel:
            return  # one we had replaced
        self.channel = None
        waiting_for = self.waiting_for
        self.answered()
        if self._closing or self.connection is None or not self.connection.is_open:
            return  # the connection's end says why
        setting = adoptable_setting(reason)
        if waiting_for == self._declaring and setting is not None:
            self.arguments[setting[0]] = setting[1]  # the queue has a setting of its own: take it
            self._open_channel()
        elif waiting_for == self._checking_dead_letters and getattr(reason, "reply_code", None) == 404:
            self._dead_letters_missing = True
            self._open_channel()
        else:
            self.channel_closed(reason, waiting_for)

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
        if self.connection is None:
            self._connecting = None
            self._end(None)
        elif self.connection.is_open:
            close_within(self.ioloop, self.connection, self.CLOSE_GRACE)

    def _end(self, reason):
        problem = self._problem if self._problem is not None or self._closing else reason
        self.answered()
        self.connection = self.channel = None
        self._closing, self._problem = False, None
        self.ended(problem)

    def parameters_in_use(self):
        """The connection's parameters (or all of them, between connections)."""
        return [self.connection.params] if self.connection is not None else self.parameters


def close_within(ioloop, connection, grace):
    """Close `connection`; drop it if the broker has not answered within
    `grace` s (pika has no public call for that: the broker sees its socket
    close)."""
    connection.close()

    def drop():
        if not connection.is_closed:
            connection._adapter_disconnect_stream()

    ioloop.call_later(grace, drop)


def look_at_queue(ioloop, parameters, queue, timeout, report):
    """Ask the broker at `parameters`, on a short connection of its own, how
    many tasks `queue` has waiting: report(count) once, None if it cannot say
    within `timeout` s."""
    looking = copy.copy(parameters)
    looking.client_properties = {
        **parameters.client_properties,
        "connection_name": f"{SCRIPT} (pid {os.getpid()}): a look at queue {queue!r}",
    }
    answered = []

    def answer(count, connection=None):
        if answered:
            return
        answered.append(count)
        ioloop.remove_timeout(deadline)
        if connection is not None and connection.is_open:
            close_within(ioloop, connection, Client.CLOSE_GRACE)
        report(count)

    def on_open(connection):
        connection.channel(on_open_callback=lambda channel: channel.queue_declare(
            queue, passive=True, callback=lambda frame: answer(frame.method.message_count, connection)))

    connection = pika.SelectConnection(
        looking, on_open_callback=on_open,
        on_open_error_callback=lambda _connection, _error: answer(None),
        on_close_callback=lambda _connection, _reason: answer(None),
        custom_ioloop=ioloop,
    )
    deadline = ioloop.call_later(timeout, lambda: answer(None, connection))


def on_ctrl_break(call):
    """Windows: call() at Ctrl+Break, from the thread the console starts for
    it. A console control handler, which is what the C library's SIGBREAK is
    made of: wine delivers Ctrl+Break to it, not to SIGBREAK."""
    import ctypes

    @ctypes.WINFUNCTYPE(ctypes.c_int, ctypes.c_uint)
    def handler(event):
        if event != 1:  # CTRL_BREAK_EVENT; Ctrl+C goes on to Python's SIGINT
            return False
        call()
        return True

    _console_handlers.append(handler)  # kept alive as long as Windows may call it
    ctypes.windll.kernel32.SetConsoleCtrlHandler(handler, True)


_console_handlers = []


def say_adopted(arguments, args):
    """One line naming the ADOPTABLE settings taken on, if any."""
    adopted = [f"{ADOPTABLE[k]} ({v!r})" for k, v in arguments.items() if k not in queue_arguments(args)]
    if adopted:
        complain(f"queue {args.queue!r} has its own {', '.join(adopted)}; using it as it is")


def connection_error(error):
    """What an asynchronous connection attempt failed with, unwrapped from
    pika's connection workflow as BlockingConnection unwraps it."""
    if isinstance(error, connection_workflow.AMQPConnectionWorkflowFailed):
        error = error.exceptions[-1]  # the last URL's
        if isinstance(error, connection_workflow.AMQPConnectorSocketConnectError):
            error = pika.exceptions.AMQPConnectionError(error)
        elif isinstance(error, connection_workflow.AMQPConnectorPhaseErrorBase):
            error = error.exception
    return error


def where(parameters):
    return ", ".join(f"{p.host}:{p.port}" for p in parameters)


def broker_said_so(exc):
    """pika guesses a bad login or virtual host from a connection closed during
    the handshake; only a close sent by the broker proves it."""
    return str(exc).startswith("ConnectionClosedByBroker")


def is_fatal(exc, parameters):
    """Errors that waiting cannot mend: the user must change something.
    A connection that is reset or closed during the handshake, as a broker
    that is starting or restarting does, is not one of them."""
    if isinstance(exc, str):
        return False  # our own words: a deadline passed, a consumer cancelled
    if _tls_problem(exc) or hung_up_after_tls(exc, parameters):
        return True
    if isinstance(
        exc,
        (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError),
    ):
        return broker_said_so(exc)
    if isinstance(exc, pika.exceptions.AuthenticationError):
        return True
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return exc.reply_code in (403, 530)  # ACCESS_REFUSED, NOT_ALLOWED (vhost)
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        # A queue we may not use, or that exists with other settings. Others,
        # such as an ack that came too late (consumer_timeout), pass.
        return exc.reply_code == 403 or bool(_INEQUIVALENT.search(exc.reply_text))
    return False


def describe(exc, parameters):
    """One line that says what went wrong and, where we know, what to do."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError) and broker_said_so(exc):
        return f"{where(parameters)} refused the login: check the user and password in the URL"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError) and broker_said_so(exc):
        vhosts = ", ".join(repr(p.virtual_host) for p in parameters)
        return f"{where(parameters)} refused access to virtual host {vhosts}: does it exist, and may this user use it?"
    if isinstance(exc, connection_workflow.AMQPConnectorStackTimeout):
        return (
            f"the broker at {where(parameters)} did not complete the connection's handshake "
            f"within {parameters[-1].stack_timeout:g} s"
        )
    problem = _tls_problem(exc)
    if problem:
        return f"TLS with the broker at {where(parameters)} failed: {problem}"
    if hung_up_after_tls(exc, parameters):
        # The broker checks a client certificate after TLS 1.3's handshake and
        # hangs up; its alert often meets our AMQP header and is lost in a reset.
        return (
            f"TLS with the broker at {where(parameters)} failed: it hung up after the handshake; "
            "it may want a client certificate, or refuse ours (give one with ?ssl_options= in --url)"
        )
    if isinstance(
        exc,
        (
            pika.exceptions.IncompatibleProtocolError,
            pika.exceptions.ProbableAuthenticationError,
            pika.exceptions.ProbableAccessDeniedError,
        ),
    ):
        return (
            f"the connection to {where(parameters)} closed during the AMQP handshake "
            "(is the broker starting, and is this its AMQP port?)"
        )
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        found = _INEQUIVALENT.search(exc.reply_text)
        if exc.reply_code == 406 and found:
            return explain_inequivalent(*found.groups())
        node_down = _HOME_NODE_DOWN.search(exc.reply_text)
        if exc.reply_code == 404 and node_down:
            return (
                f"queue {node_down['queue']!r} lives on node {node_down['node']}, which is down or cut off "
                f"from the broker at {where(parameters)}; waiting for it"
            )
        timeout = re.search(r"delivery acknowledgement .*timed out. Timeout value used: (\d+) ms", exc.reply_text)
        if timeout:
            return (
                f"the broker took back a task not acknowledged within consumer_timeout "
                f"({int(timeout[1]) / 1000:g} s) and will deliver it again; for tasks that long, "
                "raise consumer_timeout"
            )
        return f"the broker closed the channel: {exc.reply_text} ({exc.reply_code})"
    if isinstance(exc, pika.exceptions.ConnectionClosed):
        return f"the broker closed the connection: {exc.reply_text} ({exc.reply_code})"
    if isinstance(exc, (pika.exceptions.AMQPConnectionError, OSError)):
        cause = _root_cause(exc)
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        if isinstance(cause, ConnectionRefusedError):
            reason = "Connection refused"  # Windows' C library has no words for socket errors
        if isinstance(exc, (pika.exceptions.StreamLostError, pika.exceptions.AMQPHeartbeatTimeout)):
            return f"lost the connection to the broker at {where(parameters)}: {reason}"
        return f"cannot reach the broker at {where(parameters)}: {reason}"
    return f"{type(exc).__name__}: {exc}"


# RabbitMQ 3.x, for a classic queue whose node is down or cut off (a partition).
_HOME_NODE_DOWN = re.compile(r"home node '(?P<node>[^']+)' of durable queue '(?P<queue>[^']*)' .* is down or inaccessible")


def explain_inequivalent(setting, queue, detail):
    """The broker's "inequivalent arg" in the user's words, and what to do."""
    delete = f"use another --queue, or delete it with its tasks: rabbitmqctl delete_queue {queue}"
    if setting == "durable":
        return f"queue {queue!r} exists but is not durable, so its tasks would not survive a broker restart; {delete}"
    if setting == "x-queue-type":
        # 3.x: "current is the value 'quorum' of type 'longstr'" or "current is none";
        # 4.x: "current is 'quorum'".
        current = re.search(r"current is (?:the value )?'([^']*)'", detail)
        kind = (current and current[1]) or "classic"
        option = "--queue-type quorum" if kind == "quorum" else "--queue-type classic (the default)"
        if kind in ("classic", "quorum"):
            return f"queue {queue!r} is a {kind} queue: give {option}, or {delete}"
        return f"queue {queue!r} is a {kind} queue, which these scripts do not use; {delete}"
    return f"queue {queue!r} already exists with another {setting!r} ({detail}); {delete}"


# OpenSSL's X509_V_ERR_ codes for a certificate whose issuer we do not trust:
# self-signed, self-signed CA in the chain, issuer unknown, leaf unverifiable.
_UNTRUSTED_ISSUER = {18, 19, 20, 21}


def _tls_problem(exc):
    """What is wrong, for a TLS failure that waiting cannot mend; else None.

    A certificate that fails verification stays failing, and a port that
    answers in plain AMQP does not learn TLS: a broker's listeners keep their
    protocol across restarts, and a restarting broker refuses or cuts
    connections, which the worker retries (an SSLEOFError, a reset). So only
    these are fatal; other TLS errors pass as a connection that failed."""
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        hint = ""
        if cause.verify_code in _UNTRUSTED_ISSUER:
            hint = " (if its CA is a private one, give the CA's certificate in SSL_CERT_FILE)"
        return f"certificate verify failed: {cause.verify_message}{hint}"
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
        return "that port does not speak TLS (is it the amqps port? 5671 by default)"
    return None


def hung_up_after_tls(exc, parameters):
    """The broker closed the connection after the TLS handshake, before AMQP's
    (pika's IncompatibleProtocolError): it wants a client certificate, or
    refuses ours. (A broker that is restarting cuts TLS during its handshake.)"""
    return isinstance(exc, pika.exceptions.IncompatibleProtocolError) and bool(parameters[-1].ssl_options)


def _root_cause(exc):
    """pika wraps the socket's error in connector and workflow errors."""
    while True:
        if getattr(exc, "exceptions", None):
            exc = exc.exceptions[-1]
        elif getattr(exc, "exception", None) is not None:
            exc = exc.exception
        elif exc.args and isinstance(exc.args[0], BaseException):
            exc = exc.args[0]
        else:
            return exc


def shown(body):
    """A task as the tutorial shows it: the repr of its text, or of its bytes
    when they are not UTF-8. The same in both scripts."""
    try:
        return repr(body.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(body)


class OutputLost(Exception):
    """Standard output is gone: a closed pipe (./worker.py | head), a full disk."""


def line_by_line_output():
    """Tutorial output shows each line at once, even in a pipe; a character
    that the output's encoding lacks is escaped rather than failing."""
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")


def say(line):
    """Print a line of tutorial output to stdout; OutputLost if it is gone."""
    try:
        print(line)
    except (OSError, ValueError) as exc:  # ValueError: stdout was closed
        raise OutputLost(getattr(exc, "strerror", None) or str(exc)) from None


def drop_output():
    """Once stdout is gone: point it at the null device, so that nothing
    fails again when Python flushes it at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_or_drop_output():
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        drop_output()


def complain(message):
    """A diagnostic: one line on stderr, named after the script."""
    try:
        print(f"{SCRIPT}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr is gone too: nobody left to tell


def fail(message, code=1):
    complain(f"error: {message}")
    sys.exit(code)
