"""What new_task.py and worker.py share: options, the queue, output, and error
messages.

Both scripts declare the task queue exactly as the tutorial does (declaring is
idempotent, and whichever starts first creates it), and both explain a
broker's refusal in one line instead of a traceback.
"""

import argparse
import os
import re
import ssl
import sys
import urllib.parse

SCRIPT = os.path.basename(sys.argv[0])

try:
    import pika
    import pika.exceptions
    from pika.adapters.utils import connection_workflow
except ModuleNotFoundError:  # run outside the virtual environment
    sys.exit(
        f"{SCRIPT}: error: pika is not installed for {sys.executable}: activate the "
        "virtual environment (. .venv/bin/activate) or pip install -r requirements.txt"
    )

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
DEFAULT_QUEUE = "test_dur"  # the tutorial's durable queue
# Where the broker's policy (rabbitmq/definitions/policies.json) sends a task
# that has used up its deliveries: the queue NAME.dead, bound by NAME.
DEAD_LETTER_EXCHANGE = "work-queues.dead"


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
    return parser


def queue_name(text):
    """An argparse type: RabbitMQ takes names of 1 to 255 bytes. (An empty
    name would have the broker make up one, and leave that queue behind.)"""
    if not text:
        raise argparse.ArgumentTypeError("a queue needs a name (is a shell variable unset?)")
    if len(text.encode("utf-8", "surrogateescape")) > 255:
        raise argparse.ArgumentTypeError("a queue name has at most 255 bytes")
    return text


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
    for url in filter(None, (u.strip() for u in _URL_SEPARATOR.split(urls))):
        if urllib.parse.urlsplit(url).scheme.lower() not in ("amqp", "amqps"):
            parser.error(f"{source}: {masked(url)!r} is not an amqp:// or amqps:// URL")
        try:
            parameters.append(pika.URLParameters(url))
        except Exception as exc:  # pika raises ValueError, IndexError, ... for a bad URL
            parser.error(f"{source}: {masked(url)!r}: {exc}")
    if not parameters:
        parser.error(f"{source}: no URL given")
    for each in parameters:
        # Names the connection in the broker's lists and management UI.
        each.client_properties = {
            "connection_name": f"{SCRIPT} (pid {os.getpid()})",
            **(each.client_properties or {}),
        }
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


def declare_queue(connection, args):
    """Declare the task queue as the tutorial does, taking on whatever
    ADOPTABLE settings it already has, and for a quorum queue the dead-letter
    queue that the policy's exchange feeds. Returns a channel to use."""
    arguments = queue_arguments(args)
    while True:
        channel = connection.channel()
        try:
            channel.queue_declare(args.queue, durable=True, arguments=arguments)
            break
        except pika.exceptions.ChannelClosedByBroker as exc:
            setting = adoptable_setting(exc)
            if setting is None:
                raise
            arguments[setting[0]] = setting[1]
    say_adopted(arguments, args)
    if needs_dead_letter_queue(arguments, args):
        for declare in dead_letter_declarations(channel, args.queue):
            declare()
    return channel


def say_adopted(arguments, args):
    """One line naming the ADOPTABLE settings taken on, if any."""
    adopted = [f"{ADOPTABLE[k]} ({v!r})" for k, v in arguments.items() if k not in queue_arguments(args)]
    if adopted:
        complain(f"queue {args.queue!r} has its own {', '.join(adopted)}; using it as it is")


def needs_dead_letter_queue(arguments, args):
    """Quorum queues count deliveries; the policy parks a task that used them
    all in NAME.dead, unless the queue has dead-letter settings of its own."""
    return args.queue_type == "quorum" and "x-dead-letter-exchange" not in arguments


def dead_letter_declarations(channel, queue, callback=None):
    """The three declarations that make NAME.dead receive the dead letters of
    NAME, as functions; `callback` is for pika's asynchronous channels."""
    dead_letters = f"{queue}.dead"
    more = {} if callback is None else {"callback": callback}
    return [
        lambda: channel.exchange_declare(DEAD_LETTER_EXCHANGE, "direct", durable=True, **more),
        lambda: channel.queue_declare(
            dead_letters, durable=True, arguments={"x-queue-type": "quorum"}, **more
        ),
        lambda: channel.queue_bind(dead_letters, DEAD_LETTER_EXCHANGE, routing_key=queue, **more),
    ]


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
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError) and broker_said_so(exc):
        return f"{where(parameters)} refused the login: check the user and password in the URL"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError) and broker_said_so(exc):
        vhosts = ", ".join(repr(p.virtual_host) for p in parameters)
        return f"{where(parameters)} refused access to virtual host {vhosts}: does it exist, and may this user use it?"
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
        if isinstance(exc, (pika.exceptions.StreamLostError, pika.exceptions.AMQPHeartbeatTimeout)):
            return f"lost the connection to the broker at {where(parameters)}: {reason}"
        return f"cannot reach the broker at {where(parameters)}: {reason}"
    return f"{type(exc).__name__}: {exc}"


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


# The errors the scripts expect from the network and the broker.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)  # OSError: socket errors, DNS included


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
    """Once stdout is gone: point it at /dev/null, so that nothing fails again
    when Python flushes it at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def complain(message):
    """A diagnostic: one line on stderr, named after the script."""
    try:
        print(f"{SCRIPT}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr is gone too: nobody left to tell


def fail(message):
    complain(f"error: {message}")
    sys.exit(1)
