"""What went wrong, in one line, and whether waiting can mend it: one
classification of every error the scripts meet (the exit codes: workqueue/exits.py)."""

import re
import ssl
from typing import NamedTuple

import pika.exceptions
from pika.adapters.utils import connection_workflow


class Problem(NamedTuple):
    text: str  # what went wrong and, where we know, what to do
    fatal: bool = False  # waiting cannot mend it: the user must change something


def explain(exc, parameters):
    """The Problem of `exc` (an exception, or our own words: a deadline
    passed, a consumer cancelled), met on a connection to `parameters`."""
    if isinstance(exc, str):
        return Problem(exc)
    at = where(parameters)
    said_by_broker = str(exc).startswith("ConnectionClosedByBroker")
    # pika guesses a bad login or virtual host from a connection closed during
    # the handshake; only a close sent by the broker proves it.
    if isinstance(exc, pika.exceptions.ProbableAuthenticationError) and said_by_broker:
        return Problem(f"{at} refused the login: check the user and password in the URL", fatal=True)
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError) and said_by_broker:
        vhosts = ", ".join(repr(p.virtual_host) for p in parameters)
        return Problem(
            f"{at} refused access to virtual host {vhosts}: does it exist, and may this user use it?", fatal=True
        )
    if isinstance(exc, pika.exceptions.AuthenticationError):
        return Problem(f"{at} refused our authentication: {exc}", fatal=True)
    if isinstance(exc, connection_workflow.AMQPConnectorStackTimeout):
        return Problem(
            f"the broker at {at} did not complete the connection's handshake "
            f"within {parameters[-1].stack_timeout:g} s"
        )
    problem = tls_problem(exc)
    if problem:
        return Problem(f"TLS with the broker at {at} failed: {problem}", fatal=True)
    if isinstance(exc, pika.exceptions.IncompatibleProtocolError) and parameters[-1].ssl_options:
        # The broker checks a client certificate after TLS 1.3's handshake and
        # hangs up; its alert often meets our AMQP header and is lost in a reset.
        return Problem(
            f"TLS with the broker at {at} failed: it hung up after the handshake; "
            "it may want a client certificate, or refuse ours (give one with ?ssl_options= in --url)",
            fatal=True,
        )
    if isinstance(
        exc,
        (
            pika.exceptions.IncompatibleProtocolError,
            pika.exceptions.ProbableAuthenticationError,
            pika.exceptions.ProbableAccessDeniedError,
        ),
    ):
        # As a broker that is starting or restarting does: not fatal.
        return Problem(f"the connection to {at} closed during the AMQP handshake (is the broker starting, and is this its AMQP port?)")
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        return channel_closed(exc, at)
    if isinstance(exc, pika.exceptions.ConnectionClosed):
        return Problem(
            f"the broker closed the connection: {exc.reply_text} ({exc.reply_code})",
            # ACCESS_REFUSED, NOT_ALLOWED (a virtual host)
            fatal=isinstance(exc, pika.exceptions.ConnectionClosedByBroker) and exc.reply_code in (403, 530),
        )
    if isinstance(exc, (pika.exceptions.AMQPConnectionError, OSError)):
        cause = root_cause(exc)
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        if isinstance(cause, ConnectionRefusedError):
            reason = "Connection refused"  # Windows' C library has no words for socket errors
        if isinstance(exc, (pika.exceptions.StreamLostError, pika.exceptions.AMQPHeartbeatTimeout)):
            return Problem(f"lost the connection to the broker at {at}: {reason}")
        return Problem(f"cannot reach the broker at {at}: {reason}")
    return Problem(f"{type(exc).__name__}: {exc}")


# The broker's words for a declaration that differs from the queue's.
INEQUIVALENT = re.compile(r"inequivalent arg '([^']+)' for queue '([^']*)' in vhost '[^']*': (.*)")
# RabbitMQ 3.x, for a classic queue whose node is down or cut off (a partition).
HOME_NODE_DOWN = re.compile(r"home node '(?P<node>[^']+)' of durable queue '(?P<queue>[^']*)' .* is down or inaccessible")
CONSUMER_TIMEOUT = re.compile(r"delivery acknowledgement .*timed out. Timeout value used: (\d+) ms")


def channel_closed(exc, at):
    found = INEQUIVALENT.search(exc.reply_text)
    if exc.reply_code == 406 and found:
        return Problem(explain_inequivalent(*found.groups()), fatal=True)
    node_down = HOME_NODE_DOWN.search(exc.reply_text)
    if exc.reply_code == 404 and node_down:
        return Problem(
            f"queue {node_down['queue']!r} lives on node {node_down['node']}, which is down or cut off "
            f"from the broker at {at}; waiting for it"
        )
    timeout = CONSUMER_TIMEOUT.search(exc.reply_text)
    if timeout:
        return Problem(
            f"the broker took back a task not acknowledged within consumer_timeout "
            f"({int(timeout[1]) / 1000:g} s) and will deliver it again; for tasks that long, "
            "raise consumer_timeout"
        )
    # A queue we may not use is fatal; others, such as an ack that came too late, pass.
    return Problem(f"the broker closed the channel: {exc.reply_text} ({exc.reply_code})", fatal=exc.reply_code == 403)


def consumer_cancelled(into_task):
    """Our words for a consumer the broker cancelled while its queue is still
    there, `into_task` seconds into a task (None: with no task in hand)."""
    if into_task is None:
        return "the broker cancelled our consumer (was the queue's node restarted or cut off?)"
    return (
        f"the broker cancelled our consumer {into_task:.0f} s into a task (RabbitMQ 4.x does this when a task "
        "outlasts consumer_timeout, and gives the task to another worker; or the queue's node went down)"
    )


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


def no_such_queue(reason):
    """A 404 for a queue that is gone, not for one whose node is unreachable."""
    return getattr(reason, "reply_code", None) == 404 and "is down or inaccessible" not in reason.reply_text


# OpenSSL's X509_V_ERR_ codes for a certificate whose issuer we do not trust:
# self-signed, self-signed CA in the chain, issuer unknown, leaf unverifiable.
UNTRUSTED_ISSUER = {18, 19, 20, 21}


def tls_problem(exc):
    """What is wrong, for a TLS failure that waiting cannot mend; else None.

    A certificate that fails verification stays failing, and a port that
    answers in plain AMQP does not learn TLS: a broker's listeners keep their
    protocol across restarts, and a restarting broker refuses or cuts
    connections, which the worker retries (an SSLEOFError, a reset). So only
    these are fatal; other TLS errors pass as a connection that failed."""
    cause = root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        hint = ""
        if cause.verify_code in UNTRUSTED_ISSUER:
            hint = " (if its CA is a private one, give the CA's certificate in SSL_CERT_FILE)"
        return f"certificate verify failed: {cause.verify_message}{hint}"
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
        return "that port does not speak TLS (is it the amqps port? 5671 by default)"
    return None


def root_cause(exc):
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
