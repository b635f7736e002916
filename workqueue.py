"""What new_task.py and worker.py share: options, the queue, and error messages.

Both scripts declare the same durable queue (declaring is idempotent, and
whichever starts first creates it), and both explain a broker's refusal in
one line instead of a traceback.
"""

import argparse
import os
import re
import ssl
import sys

import pika
import pika.exceptions

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
DEFAULT_QUEUE = "test_dur"  # the tutorial's durable queue
DEFAULT_DELIVERY_LIMIT = 5


def argument_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--url",
        default=os.environ.get("AMQP_URL", DEFAULT_URL),
        help="broker URL, with pika's query parameters such as ?heartbeat=10; "
        "several URLs separated by commas are tried in turn "
        f"(default: $AMQP_URL, else {DEFAULT_URL.replace('%', '%%')})",
    )
    parser.add_argument(
        "--queue", default=DEFAULT_QUEUE, help="durable queue name (default: %(default)s)"
    )
    parser.add_argument(
        "--queue-type",
        choices=("classic", "quorum"),
        default="classic",
        help="classic: the tutorial's durable queue; quorum: replicated over a "
        "cluster, with a delivery limit and a dead-letter queue (default: %(default)s)",
    )
    parser.add_argument(
        "--delivery-limit",
        type=integer_at_least(1, "positive integer"),
        default=DEFAULT_DELIVERY_LIMIT,
        help="quorum queues: after this many failed deliveries a task is parked in "
        "the queue QUEUE.dead instead of being handed out again (default: %(default)s)",
    )
    return parser


def integer_at_least(minimum, name):
    """An argparse type; argparse names it (`name`) in its error message."""

    def parse(text):
        value = int(text)
        if value < minimum:
            raise ValueError(text)
        return value

    parse.__name__ = name
    return parse


def connection_parameters(parser, urls):
    """One URLParameters per comma-separated URL; pika tries them in order."""
    parameters = []
    for url in filter(None, (u.strip() for u in _URL_SEPARATOR.split(urls))):
        if not url.startswith(("amqp://", "amqps://")):
            parser.error(f"argument --url: {url!r} is not an amqp:// or amqps:// URL")
        try:
            parameters.append(pika.URLParameters(url))
        except Exception as exc:  # pika raises ValueError, IndexError, ... for a bad URL
            parser.error(f"argument --url: {url!r}: {exc}")
    if not parameters:
        parser.error("argument --url: no URL given")
    return parameters


# A comma starts another URL only before amqp:// or amqps:// (or at the end):
# pika's ?ssl_options={...}, which carries a client certificate, has commas too.
_URL_SEPARATOR = re.compile(r",(?=\s*(?:amqps?://|$))")


def declare_queue(channel, args):
    """The task queue, the same in both scripts whichever starts first."""
    if args.queue_type == "classic":
        channel.queue_declare(queue=args.queue, durable=True)
        return
    # A quorum queue counts the deliveries of each task; a task that keeps
    # killing its workers goes to the dead-letter queue after the limit.
    dead_letters = f"{args.queue}.dead"
    channel.queue_declare(queue=dead_letters, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare(
        queue=args.queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": args.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letters,
        },
    )


def where(parameters):
    return ", ".join(f"{p.host}:{p.port}" for p in parameters)


def is_fatal(exc):
    """Errors that retrying cannot mend: the user must change something."""
    if _tls_problem(exc):
        return True
    if isinstance(
        exc,
        (
            pika.exceptions.ProbableAuthenticationError,
            pika.exceptions.ProbableAccessDeniedError,
            pika.exceptions.AuthenticationError,
            pika.exceptions.IncompatibleProtocolError,
        ),
    ):
        return True
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return exc.reply_code in (403, 530)  # ACCESS_REFUSED, NOT_ALLOWED (vhost)
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        # A queue we may not use, or that exists with other settings. Others,
        # such as an ack that came too late (consumer_timeout), pass.
        return exc.reply_code == 403 or bool(_INEQUIVALENT.search(exc.reply_text))
    return False


_INEQUIVALENT = re.compile(r"inequivalent arg '([^']+)' for queue '([^']+)'.*?: (.*)")


def describe(exc, parameters):
    """One line that says what went wrong and, where we know, what to do."""
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError):
        return f"{where(parameters)} refused the login: check the user and password in --url"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        vhosts = ", ".join(repr(p.virtual_host) for p in parameters)
        return f"{where(parameters)} refused access to virtual host {vhosts}: does it exist, and may this user use it?"
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        found = _INEQUIVALENT.search(exc.reply_text)
        if exc.reply_code == 406 and found:
            setting, queue, detail = found.groups()
            # x- arguments come from --queue-type and --delivery-limit
            matching = "the --queue-type and --delivery-limit it has, " if setting.startswith("x-") else ""
            return (
                f"queue {queue!r} already exists with another {setting!r} ({detail}); "
                f"use {matching}another --queue name, or delete it: rabbitmqctl delete_queue {queue}"
            )
        return f"the broker closed the channel: {exc.reply_text} ({exc.reply_code})"
    if isinstance(exc, pika.exceptions.ConnectionClosed):
        return f"the broker closed the connection: {exc.reply_text} ({exc.reply_code})"
    problem = _tls_problem(exc)
    if problem:
        return f"TLS with the broker at {where(parameters)} failed: {problem}"
    if isinstance(exc, pika.exceptions.IncompatibleProtocolError) and parameters[-1].ssl_options:
        # The broker checks a client certificate after TLS 1.3's handshake and
        # hangs up; its alert often meets our AMQP header and is lost in a reset.
        return (
            f"TLS with the broker at {where(parameters)} failed: it hung up after the handshake; "
            "it may want a client certificate, or refuse ours (give one with ?ssl_options= in --url)"
        )
    if isinstance(exc, (pika.exceptions.AMQPConnectionError, OSError)):
        cause = _root_cause(exc)
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        if isinstance(exc, (pika.exceptions.StreamLostError, pika.exceptions.AMQPHeartbeatTimeout)):
            return f"lost the connection to the broker at {where(parameters)}: {reason}"
        return f"cannot reach the broker at {where(parameters)}: {reason}"
    return f"{type(exc).__name__}: {exc}"


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


def fail(message):
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
    sys.exit(1)


# The errors the scripts expect from the network and the broker.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)  # OSError: socket errors, DNS included
