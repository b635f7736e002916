"""Brokers that also speak amqps://, on a port of their own."""

import shutil
import socket
import ssl
from pathlib import Path

from .base import LOOPBACK, free_port, wait_until
from .containers import DockerBroker
from .local import LocalNode


def tls_config(listener, cacertfile, certfile, keyfile, client_certificates):
    """rabbitmq.conf's lines for a TLS listener (an own_tls_broker)."""
    return (
        f"listeners.ssl.default = {listener}\n"
        f"ssl_options.cacertfile = {cacertfile}\n"
        f"ssl_options.certfile = {certfile}\n"
        f"ssl_options.keyfile = {keyfile}\n"
        f"ssl_options.verify = {'verify_peer' if client_certificates else 'verify_none'}\n"
        f"ssl_options.fail_if_no_peer_cert = {'true' if client_certificates else 'false'}\n"
    )


class SpeaksTls:
    def tls_url(self, host="localhost"):
        return f"amqps://guest:guest@{host}:{self.tls_port}/%2F"

    def start(self):
        """Started once the TLS listener answers too: on RabbitMQ 4.3 it may
        open a moment after the plain one (and Docker's port forwarder
        accepts connections before either)."""
        super().start()
        try:
            wait_until(self.accepts_tls, 30, f"{self.node} to accept TLS")
        except BaseException:
            self.remove()  # a broker that fails to start is not left running
            raise
        return self

    def accepts_tls(self):
        """A TLS handshake completes on tls_port (whatever the certificate: the
        tests check that)."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection((LOOPBACK, self.tls_port), timeout=5) as raw:
                with context.wrap_socket(raw):
                    return True
        except OSError:  # refused, reset, or cut short (ssl.SSLError is one too)
            return False


class TlsNode(SpeaksTls, LocalNode):
    """own_tls_broker's local node."""

    def __init__(self, base_dir, name, cacertfile, certfile, keyfile, client_certificates):
        self.tls_port = free_port()
        config = tls_config(f"{LOOPBACK}:{self.tls_port}", cacertfile, certfile, keyfile, client_certificates)
        super().__init__(base_dir, name=name, extra_config=config)


class TlsContainer(SpeaksTls, DockerBroker):
    """own_tls_broker's container: TLS on 5671, published on tls_port. The PEM
    files go in by a folder of their own that the container's rabbitmq user
    may read (pytest's temporary folders are root's alone)."""

    TLS_PORT = 5671
    TLS_DIR = "/etc/rabbitmq/tls"

    def __init__(self, base_dir, name, cacertfile, certfile, keyfile, client_certificates):
        super().__init__()
        folder = Path(base_dir) / "tls"
        folder.mkdir(mode=0o755)
        for source, target in ((cacertfile, "ca.pem"), (certfile, "cert.pem"), (keyfile, "key.pem")):
            shutil.copyfile(source, folder / target)
            (folder / target).chmod(0o644)
        config = folder / "tls.conf"
        config.write_text(
            tls_config(
                self.TLS_PORT, f"{self.TLS_DIR}/ca.pem", f"{self.TLS_DIR}/cert.pem", f"{self.TLS_DIR}/key.pem",
                client_certificates,
            )
        )
        self.testcontainer.with_volume_mapping(str(folder), self.TLS_DIR, "ro")
        self.testcontainer.with_volume_mapping(str(config), "/etc/rabbitmq/conf.d/40-tls.conf", "ro")
        self.tls_port = free_port()
        self.testcontainer.ports[str(self.TLS_PORT)] = (LOOPBACK, self.tls_port)
