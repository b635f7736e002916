"""amqps://, as a hosted broker offers it: brokers of the kind TEST_BROKER
asks (a private node, or a container) with a TLS listener and certificates
made here (trustme), the CA given the standard way Python
reads it, SSL_CERT_FILE; and what each mistake with TLS says."""

import os
from types import SimpleNamespace

import pytest
import trustme

from brokers import own_tls_broker
from scripts import EXIT_CONFIG, SCRIPT_ENV, TUTORIAL_TASKS, Worker, queue_drained, run_new_task, wait_for_done


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the broker's certificate for `localhost`, a client certificate;
    another CA, and a client certificate from it; PEM files."""
    folder = tmp_path_factory.mktemp("pki")
    files = SimpleNamespace(**{name: folder / f"{name}.pem" for name in (
        "ca", "other_ca", "server_cert", "server_key", "client_cert", "client_key",
        "other_client_cert", "other_client_key")})
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(files.ca)
    other_ca.cert_pem.write_to_path(files.other_ca)
    for issuer, who, identity in (
        (ca, "server", "localhost"),
        (ca, "client", "worker@example.com"),
        (other_ca, "other_client", "worker@example.com"),
    ):
        leaf = issuer.issue_cert(identity)
        leaf.cert_chain_pems[0].write_to_path(getattr(files, f"{who}_cert"))
        leaf.private_key_pem.write_to_path(getattr(files, f"{who}_key"))
    return files


def started_node(tmp_path_factory, pki, name, client_certificates):
    node = own_tls_broker(
        tmp_path_factory.mktemp(name), f"{name}-{os.getpid()}",
        pki.ca, pki.server_cert, pki.server_key, client_certificates=client_certificates,
    )
    yield node.start()
    node.remove()


@pytest.fixture(scope="module")
def node(tmp_path_factory, pki):
    """A node with a TLS listener, as a hosted broker has."""
    yield from started_node(tmp_path_factory, pki, "wq-tls", client_certificates=False)


@pytest.fixture(scope="module")
def mtls_node(tmp_path_factory, pki):
    """A node that lets in only clients with a certificate from its CA."""
    yield from started_node(tmp_path_factory, pki, "wq-mtls", client_certificates=True)


def trusting(ca_file):
    return dict(SCRIPT_ENV, SSL_CERT_FILE=str(ca_file))


def assert_both_scripts_fail_at_once(url, queue, env, line):
    """new_task.py and worker.py each print `line` (after their names), and
    only that, and exit 1: the worker does not retry."""
    sent = run_new_task(url, queue, "x", check=False, env=env)
    assert (sent.returncode, sent.stdout, sent.stderr) == (1, "", f"new_task.py: error: {line}\n")
    worker = Worker(url, queue, env=env)
    assert worker.wait_exit(timeout=10) == EXIT_CONFIG
    assert worker.errors == [f"worker.py: error: {line}"]


def test_the_tutorial_session_over_amqps(node, pki, queue, start_worker):
    """The broker's CA in SSL_CERT_FILE, verification on (pika's default)."""
    env = trusting(pki.ca)
    workers = [start_worker(queue, url=node.tls_url(), env=env) for _ in range(2)]
    for task in TUTORIAL_TASKS:
        sent = run_new_task(node.tls_url(), queue, *task.split(), env=env)
        assert sent.stdout == f" [x] Sent {task!r}\n"
    wait_for_done(workers, len(TUTORIAL_TASKS), timeout=60)
    assert sorted(t for w in workers for t in w.received()) == sorted(map(repr, TUTORIAL_TASKS))
    assert all(w.received() for w in workers)  # they shared the work
    assert [w.errors for w in workers] == [[], []]
    queue_drained(node, queue)


UNTRUSTED = (
    "certificate verify failed: self-signed certificate in certificate chain "
    "(if its CA is a private one, give the CA's certificate in SSL_CERT_FILE)"
)


@pytest.mark.parametrize(
    "ca_file",
    ["other_ca", None],
    ids=["another-CA-in-SSL_CERT_FILE", "system-CAs-only"],
)
def test_a_certificate_from_an_untrusted_CA_is_fatal(node, pki, queue, ca_file):
    if ca_file:
        env = trusting(getattr(pki, ca_file))
    else:
        env = {k: v for k, v in SCRIPT_ENV.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    line = f"TLS with the broker at localhost:{node.tls_port} failed: {UNTRUSTED}"
    assert_both_scripts_fail_at_once(node.tls_url(), queue, env, line)


def test_a_host_name_the_certificate_does_not_name_is_fatal(node, pki, queue):
    """The certificate names `localhost`; 127.0.0.1 is the same broker."""
    line = (
        f"TLS with the broker at 127.0.0.1:{node.tls_port} failed: certificate verify failed: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'."
    )
    assert_both_scripts_fail_at_once(node.tls_url("127.0.0.1"), queue, trusting(pki.ca), line)


def test_amqps_to_a_plain_amqp_port_is_fatal(node, pki, queue):
    """The port is up and answers, in plain AMQP; it will not start to speak
    TLS by waiting (a broker that restarts refuses or cuts connections,
    which the worker retries)."""
    url = f"amqps://guest:guest@localhost:{node.port}/%2F"
    line = (
        f"TLS with the broker at localhost:{node.port} failed: "
        "that port does not speak TLS (is it the amqps port? 5671 by default)"
    )
    assert_both_scripts_fail_at_once(url, queue, trusting(pki.ca), line)


def with_client_certificate(url, ca, cert, key):
    return f"{url}?ssl_options={{'ca_certs':'{ca}','certfile':'{cert}','keyfile':'{key}'}}"


def test_a_client_certificate_goes_in_ssl_options(mtls_node, pki, queue, start_worker):
    """pika's ?ssl_options= makes its own SSL context: the CA goes there too
    (ca_certs), SSL_CERT_FILE is not read. Its commas do not split --url."""
    url = with_client_certificate(mtls_node.tls_url(), pki.ca, pki.client_cert, pki.client_key)
    worker = start_worker(queue, url=url)
    assert run_new_task(url, queue, "Signed.").stdout == " [x] Sent 'Signed.'\n"
    worker.wait_for(" [x] Done")
    assert worker.received() == ["'Signed.'"] and worker.errors == []
    queue_drained(mtls_node, queue)


@pytest.mark.parametrize("client_certificate", [None, "other_client"], ids=["none", "from-another-CA"])
def test_a_broker_that_refuses_our_client_certificate_is_fatal(mtls_node, pki, queue, client_certificate):
    url = mtls_node.tls_url()
    if client_certificate:
        url = with_client_certificate(
            url, pki.ca, getattr(pki, f"{client_certificate}_cert"), getattr(pki, f"{client_certificate}_key")
        )
    line = (
        f"TLS with the broker at localhost:{mtls_node.tls_port} failed: it hung up after the handshake; "
        "it may want a client certificate, or refuse ours (give one with ?ssl_options= in --url)"
    )
    assert_both_scripts_fail_at_once(url, queue, trusting(pki.ca), line)
