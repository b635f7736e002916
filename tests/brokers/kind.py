"""Which kind of broker the tests run on (TEST_BROKER), and the brokers,
clusters and TLS brokers of that kind."""

import functools
import os

from .base import NoBroker
from .clusters import ComposeCluster, LocalCluster
from .containers import DockerBroker, why_not_docker
from .local import LocalNode
from .partitions import ContainerPartitionableCluster, LocalPartitionableCluster
from .tls import TlsContainer, TlsNode


def asked_broker_kind():
    return os.environ.get("TEST_BROKER") or "auto"


@functools.cache
def broker_kind():
    """'docker' or 'local', as TEST_BROKER asks."""
    asked = asked_broker_kind()
    if asked not in ("auto", "docker", "local"):
        raise NoBroker(f"TEST_BROKER={asked!r}: use auto, docker or local")
    if asked != "local" and not why_not_docker():
        return "docker"
    if asked == "docker":
        raise NoBroker(f"TEST_BROKER=docker, but {why_not_docker()}.")
    if LocalNode.installed():
        return "local"
    raise NoBroker(
        "No RabbitMQ for the tests: start a Docker engine, or install rabbitmq-server "
        "(apt-get install rabbitmq-server)."
    )


def why_local():
    """Why the tests run on local nodes (when broker_kind() says they do)."""
    return "TEST_BROKER=local" if asked_broker_kind() == "local" else why_not_docker()


def own_broker(base_dir):
    """A broker to crash and restart at will, of the kind TEST_BROKER asks. Not started."""
    return DockerBroker() if broker_kind() == "docker" else LocalNode(base_dir)


def own_cluster(base_dir, partitionable=False, settings=None):
    """Three nodes in one cluster, of the kind TEST_BROKER asks. Not started.
    partitionable=True: nodes that cut_off() can separate (see
    PartitionableCluster), configured by cluster/rabbitmq.conf as the compose
    cluster is, with `settings` ({key: value} of rabbitmq.conf) on top."""
    docker = broker_kind() == "docker"
    if partitionable:
        kind = ContainerPartitionableCluster if docker else LocalPartitionableCluster
        return kind(base_dir, settings or {})
    assert not settings, "settings are for partitionable clusters"
    return ComposeCluster() if docker else LocalCluster(base_dir)


def own_tls_broker(base_dir, name, cacertfile, certfile, keyfile, client_certificates=False):
    """A broker of the kind TEST_BROKER asks that also speaks amqps://, on a
    port of its own (`tls_port`, `tls_url`), with the given PEM files: its CA,
    its certificate and key. With client_certificates=True it refuses any
    client that does not show a certificate its CA signed (mutual TLS). `url`
    stays the plain AMQP listener. Not started."""
    kind = TlsContainer if broker_kind() == "docker" else TlsNode
    return kind(base_dir, name, cacertfile, certfile, keyfile, client_certificates)
