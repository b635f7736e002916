"""workqueue/problems.py: every error the scripts meet, built as pika builds
it, in the user's words, and whether waiting can mend it (fatal: no)."""

import socket
import ssl

import pika
import pytest
from pika.adapters.utils import connection_workflow as workflow
from pika.exceptions import (
    AMQPConnectionError,
    AMQPHeartbeatTimeout,
    AuthenticationError,
    ChannelClosedByBroker,
    ConnectionClosedByBroker,
    IncompatibleProtocolError,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
    StreamLostError,
)
from pika.heartbeat import HeartbeatChecker

from workqueue.problems import Problem, connection_error, explain, no_such_queue

AMQP = [pika.URLParameters("amqp://guest:guest@localhost:5672/%2F")]
AMQPS = [pika.URLParameters("amqps://guest:guest@localhost:5671/%2F")]
NO_VHOST = [pika.URLParameters("amqp://guest:guest@localhost:5672/nope")]
TWO = [pika.URLParameters("amqp://guest:guest@node1:5672/%2F"), pika.URLParameters("amqp://guest:guest@node2:5673/%2F")]


def failed(*errors):
    """A failed connection attempt as the session gets it: pika's workflow
    error (one per URL), unwrapped by connection_error."""
    return connection_error(workflow.AMQPConnectionWorkflowFailed(errors))


def cert_error(code, message):
    """ssl.SSLCertVerificationError with the attributes the ssl module sets."""
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message} (_ssl.c:1006)")
    error.verify_code, error.verify_message = code, message
    error.library, error.reason = "SSL", "CERTIFICATE_VERIFY_FAILED"
    return error


def ssl_error(kind, reason, text):
    error = kind(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    error.library, error.reason = "SSL", reason
    return error


# pika's guesses, from a connection that ended during the handshake (Connection._on_stream_terminated).
CLOSED_LOGIN = ConnectionClosedByBroker(
    403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."
)
CLOSED_VHOST = ConnectionClosedByBroker(530, "NOT_ALLOWED - vhost nope not found")
EOF_LOST = StreamLostError("Transport indicated EOF")
HANDSHAKE = "the connection to localhost:5672 closed during the AMQP handshake (is the broker starting, and is this its AMQP port?)"
DELETE = "use another --queue, or delete it with its tasks: rabbitmqctl delete_queue test_dur"


def inequivalent(setting, detail):
    """A declaration refused; the details as RabbitMQ 3.10.8 and 4.3.6 word them (taken from both)."""
    return ChannelClosedByBroker(
        406, f"PRECONDITION_FAILED - inequivalent arg '{setting}' for queue 'test_dur' in vhost '/': {detail}"
    )


CASES = [
    # The login and the virtual host.
    pytest.param(
        ProbableAuthenticationError(repr(CLOSED_LOGIN)), AMQP,
        "localhost:5672 refused the login: check the user and password in the URL", True,
        id="login refused by the broker",
    ),
    pytest.param(ProbableAuthenticationError(repr(EOF_LOST)), AMQP, HANDSHAKE, False, id="login: only a guess"),
    pytest.param(
        ProbableAccessDeniedError(repr(CLOSED_VHOST)), NO_VHOST,
        "localhost:5672 refused access to virtual host 'nope': does it exist, and may this user use it?", True,
        id="virtual host refused by the broker",
    ),
    pytest.param(ProbableAccessDeniedError(repr(EOF_LOST)), NO_VHOST, HANDSHAKE, False, id="virtual host: only a guess"),
    pytest.param(
        AuthenticationError("PLAIN"), AMQP, "localhost:5672 refused our authentication: PLAIN", True,
        id="no common authentication mechanism",
    ),
    # The connection's set-up.
    pytest.param(
        failed(workflow.AMQPConnectorAMQPHandshakeError(workflow.AMQPConnectorStackTimeout(
            "Timeout during AMQP handshake'localhost'/(...); ssl=False"))), AMQP,
        "the broker at localhost:5672 did not complete the connection's handshake within 15 s", False,
        id="stack timeout in the AMQP handshake",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(workflow.AMQPConnectorStackTimeout(
            "Timeout while setting up transport to 'localhost'/(...); ssl=True"))), AMQPS,
        "the broker at localhost:5671 did not complete the connection's handshake within 15 s", False,
        id="stack timeout in the TLS handshake",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorSocketConnectError(workflow.AMQPConnectorStackTimeout(
            "Timeout while connecting socket to 'localhost'/x"))), AMQP,
        "cannot reach the broker at localhost:5672: Timeout while connecting socket to 'localhost'/x", False,
        id="stack timeout in the TCP connect",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorSocketConnectError(ConnectionRefusedError(111, "Connection refused"))), AMQP,
        "cannot reach the broker at localhost:5672: Connection refused", False,
        id="connection refused",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorSocketConnectError(ConnectionRefusedError(10061, "Unknown error"))), AMQP,
        "cannot reach the broker at localhost:5672: Connection refused", False,
        id="connection refused, Windows' words",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorSocketConnectError(ConnectionRefusedError(111, "Connection refused")),
               workflow.AMQPConnectorSocketConnectError(ConnectionRefusedError(111, "Connection refused"))), TWO,
        "cannot reach the broker at node1:5672, node2:5673: Connection refused", False,
        id="connection refused by every URL",
    ),
    pytest.param(
        failed(socket.gaierror(-2, "Name or service not known")), AMQP,
        "cannot reach the broker at localhost:5672: Name or service not known", False,
        id="unknown host",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorSocketConnectError(socket.timeout("TCP connection attempt timed out: 'localhost'/x"))),
        AMQP, "cannot reach the broker at localhost:5672: TCP connection attempt timed out: 'localhost'/x", False,
        id="TCP connect timed out",
    ),
    # TLS.
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(cert_error(20, "unable to get local issuer certificate"))), AMQPS,
        "TLS with the broker at localhost:5671 failed: certificate verify failed: unable to get local issuer certificate "
        "(if its CA is a private one, give the CA's certificate in SSL_CERT_FILE)", True,
        id="certificate of an unknown issuer",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(cert_error(19, "self-signed certificate in certificate chain"))),
        AMQPS,
        "TLS with the broker at localhost:5671 failed: certificate verify failed: self-signed certificate in certificate "
        "chain (if its CA is a private one, give the CA's certificate in SSL_CERT_FILE)", True,
        id="self-signed CA",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(
            cert_error(62, "Hostname mismatch, certificate is not valid for 'localhost'."))), AMQPS,
        "TLS with the broker at localhost:5671 failed: certificate verify failed: Hostname mismatch, certificate is not "
        "valid for 'localhost'.", True,
        id="hostname mismatch: no hint about the CA",
    ),
    pytest.param(
        AMQPConnectionError(workflow.AMQPConnectorSocketConnectError(cert_error(10, "certificate has expired"))), AMQPS,
        "TLS with the broker at localhost:5671 failed: certificate verify failed: certificate has expired", True,
        id="certificate expired, wrapped twice",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(
            ssl_error(ssl.SSLError, "WRONG_VERSION_NUMBER", "wrong version number"))), AMQPS,
        "TLS with the broker at localhost:5671 failed: that port does not speak TLS (is it the amqps port? 5671 by default)",
        True, id="amqps to a plain AMQP port",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorTransportSetupError(
            ssl_error(ssl.SSLEOFError, "UNEXPECTED_EOF_WHILE_READING", "EOF occurred in violation of protocol"))), AMQPS,
        "cannot reach the broker at localhost:5671: [SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of "
        "protocol (_ssl.c:1006)", False,
        id="TLS cut off, as by a restarting broker",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorAMQPHandshakeError(IncompatibleProtocolError(repr(EOF_LOST)))), AMQPS,
        "TLS with the broker at localhost:5671 failed: it hung up after the handshake; it may want a client certificate, "
        "or refuse ours (give one with ?ssl_options= in --url)", True,
        id="hung up after TLS",
    ),
    pytest.param(
        failed(workflow.AMQPConnectorAMQPHandshakeError(IncompatibleProtocolError(repr(EOF_LOST)))), AMQP,
        HANDSHAKE, False, id="hung up in the AMQP handshake, no TLS",
    ),
    # The channel, closed by the broker.
    pytest.param(
        inequivalent("durable", "received 'true' but current is 'false'"), AMQP,
        f"queue 'test_dur' exists but is not durable, so its tasks would not survive a broker restart; {DELETE}", True,
        id="406 not durable",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received the value 'quorum' of type 'longstr' but current is none"), AMQP,
        f"queue 'test_dur' is a classic queue: give --queue-type classic (the default), or {DELETE}", True,
        id="406 classic, 3.x",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received none but current is the value 'quorum' of type 'longstr'"), AMQP,
        f"queue 'test_dur' is a quorum queue: give --queue-type quorum, or {DELETE}", True,
        id="406 quorum, 3.x",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received 'quorum' but current is 'classic'"), AMQP,
        f"queue 'test_dur' is a classic queue: give --queue-type classic (the default), or {DELETE}", True,
        id="406 classic, 4.x",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received 'classic' but current is 'quorum'"), AMQP,
        f"queue 'test_dur' is a quorum queue: give --queue-type quorum, or {DELETE}", True,
        id="406 quorum, 4.x",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received none but current is the value 'stream' of type 'longstr'"), AMQP,
        f"queue 'test_dur' is a stream queue, which these scripts do not use; {DELETE}", True,
        id="406 stream, 3.x",
    ),
    pytest.param(
        inequivalent("x-queue-type", "received 'classic' but current is 'stream'"), AMQP,
        f"queue 'test_dur' is a stream queue, which these scripts do not use; {DELETE}", True,
        id="406 stream, 4.x",
    ),
    pytest.param(
        inequivalent("x-max-length", "received none but current is the value '10' of type 'signedint'"), AMQP,
        "queue 'test_dur' already exists with another 'x-max-length' (received none but current is the value '10' of "
        f"type 'signedint'); {DELETE}", True,
        id="406 another setting",
    ),
    pytest.param(
        ChannelClosedByBroker(404, "NOT_FOUND - home node 'rabbit@node1' of durable queue 'test_dur' in vhost '/' is down or inaccessible"),
        AMQP,
        "queue 'test_dur' lives on node rabbit@node1, which is down or cut off from the broker at localhost:5672; waiting for it",
        False, id="404 home node down",
    ),
    pytest.param(
        ChannelClosedByBroker(404, "NOT_FOUND - no queue 'test_dur' in vhost '/'"), AMQP,
        "the broker closed the channel: NOT_FOUND - no queue 'test_dur' in vhost '/' (404)", False,
        id="404 no queue",
    ),
    pytest.param(
        ChannelClosedByBroker(406, "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value "
                              "used: 1800000 ms. This timeout value can be configured, see consumer timeout documentation "
                              "at https://rabbitmq.com/consumers.html#acknowledgement-timeout for more"), AMQP,
        "the broker took back a task not acknowledged within consumer_timeout (1800 s) and will deliver it again; for "
        "tasks that long, raise consumer_timeout", False,
        id="406 consumer_timeout",
    ),
    pytest.param(
        ChannelClosedByBroker(403, "ACCESS_REFUSED - access to queue 'test_dur' in vhost '/' refused for user 'bob'"), AMQP,
        "the broker closed the channel: ACCESS_REFUSED - access to queue 'test_dur' in vhost '/' refused for user 'bob' (403)",
        True, id="403 on the channel",
    ),
    pytest.param(
        ChannelClosedByBroker(406, "PRECONDITION_FAILED - unknown delivery tag 1"), AMQP,
        "the broker closed the channel: PRECONDITION_FAILED - unknown delivery tag 1 (406)", False,
        id="406 unknown delivery tag",
    ),
    # The connection, closed by the broker or lost.
    pytest.param(
        ConnectionClosedByBroker(320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"), AMQP,
        "the broker closed the connection: CONNECTION_FORCED - broker forced connection closure with reason 'shutdown' (320)",
        False, id="320 CONNECTION_FORCED",
    ),
    pytest.param(
        ConnectionClosedByBroker(403, "ACCESS_REFUSED - user 'bob' was deleted"), AMQP,
        "the broker closed the connection: ACCESS_REFUSED - user 'bob' was deleted (403)", True,
        id="403 on the connection",
    ),
    pytest.param(
        ConnectionClosedByBroker(530, "NOT_ALLOWED - vhost / is down"), AMQP,
        "the broker closed the connection: NOT_ALLOWED - vhost / is down (530)", True,
        id="530 on the connection",
    ),
    pytest.param(
        StreamLostError(f"Stream connection lost: {ConnectionResetError(104, 'Connection reset by peer')!r}"), AMQP,
        "lost the connection to the broker at localhost:5672: Stream connection lost: "
        "ConnectionResetError(104, 'Connection reset by peer')", False,
        id="stream lost",
    ),
    pytest.param(
        AMQPHeartbeatTimeout(HeartbeatChecker._STALE_CONNECTION % 60), AMQP,
        "lost the connection to the broker at localhost:5672: No activity or too many missed heartbeats in the last 60 seconds",
        False, id="heartbeat timeout",
    ),
    # Ours, and the rest.
    pytest.param(
        "no answer to basic.qos within 30 s", AMQP, "no answer to basic.qos within 30 s", False, id="our own words",
    ),
    pytest.param(ValueError("odd"), AMQP, "ValueError: odd", False, id="anything else"),
]


@pytest.mark.parametrize("exc, parameters, text, fatal", CASES)
def test_explain(exc, parameters, text, fatal):
    assert explain(exc, parameters) == Problem(text, fatal)


def test_connection_error_takes_the_last_urls_error():
    first, last = ConnectionRefusedError(111, "first"), ConnectionRefusedError(111, "last")
    error = connection_error(workflow.AMQPConnectionWorkflowFailed(
        [workflow.AMQPConnectorSocketConnectError(first), workflow.AMQPConnectorSocketConnectError(last)]
    ))
    # As BlockingConnection raises it: AMQPConnectionError around the connector's error.
    assert type(error) is AMQPConnectionError
    assert isinstance(error.args[0], workflow.AMQPConnectorSocketConnectError)
    assert error.args[0].exception is last


@pytest.mark.parametrize("phase", [workflow.AMQPConnectorTransportSetupError, workflow.AMQPConnectorAMQPHandshakeError])
def test_connection_error_unwraps_a_later_phase(phase):
    inner = IncompatibleProtocolError("x")
    assert connection_error(workflow.AMQPConnectionWorkflowFailed([phase(inner)])) is inner


@pytest.mark.parametrize("error", [
    socket.gaierror(-2, "Name or service not known"),
    workflow.AMQPConnectorStackTimeout("t"),
])
def test_connection_error_keeps_other_workflow_errors(error):
    assert connection_error(workflow.AMQPConnectionWorkflowFailed([error])) is error


@pytest.mark.parametrize("error", [ConnectionClosedByBroker(320, "x"), StreamLostError("x"), "our words"])
def test_connection_error_passes_anything_else(error):
    assert connection_error(error) is error


@pytest.mark.parametrize(
    "reason, gone",
    [
        (ChannelClosedByBroker(404, "NOT_FOUND - no queue 'test_dur' in vhost '/'"), True),
        (ChannelClosedByBroker(404, "NOT_FOUND - home node 'rabbit@n1' of durable queue 'test_dur' in vhost '/' is down or inaccessible"), False),
        (ChannelClosedByBroker(406, "PRECONDITION_FAILED - unknown delivery tag 1"), False),
        (ConnectionClosedByBroker(320, "CONNECTION_FORCED - shutdown"), False),
        ("no answer within 30 s", False),
        (None, False),
    ],
)
def test_no_such_queue(reason, gone):
    assert no_such_queue(reason) is gone
