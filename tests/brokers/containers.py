"""Brokers in Docker containers, and the image they run: RABBITMQ_IMAGE,
default the official rabbitmq:4-management (.ci/rabbitmq-image builds a
stand-in where no registry answers)."""

import functools
import os
import subprocess
from pathlib import Path

from .base import LOOPBACK, REPOSITORY, Broker, free_port, wait_until

OFFICIAL_IMAGE = "rabbitmq:4-management"
AMQP_PORT = 5672  # inside the container

# testcontainers, unless told otherwise: connect to the ports it publishes on
# this host (Docker's marker file /.dockerenv, which some machines that are no
# container carry, sends it looking for a gateway instead), and no Ryuk, its
# reaper, which is one more image to pull: our fixtures remove their
# containers themselves, after a failure too.
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def rabbitmq_image():
    return os.environ.get("RABBITMQ_IMAGE") or OFFICIAL_IMAGE


@functools.cache
def why_not_docker():
    """Why the tests cannot run on Docker here, or None: an engine answers, and
    it has the image RABBITMQ_IMAGE or pulls it now (once, for every test)."""
    try:
        from testcontainers.core.docker_client import DockerClient

        client = DockerClient().client
        client.ping()
    except Exception:  # no docker package, no socket, no engine: all mean no
        return "no Docker engine answers: start one, or use TEST_BROKER=local"
    missing = why_no_image(client, rabbitmq_image(), "RABBITMQ_IMAGE", ".ci/rabbitmq-image")
    return missing and f"{missing}, or use TEST_BROKER=local"


def why_no_image(client, image, variable, builder):
    """Why `image` cannot be had here, or None: it is here, or is pulled now."""
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
        except docker.errors.APIError as exc:
            return (
                f"the image {image} is not here and cannot be pulled ({exc.explanation}): set {variable} "
                f"to one that is ({builder} builds one without a registry)"
            )
    return None


class ContainerBroker(Broker):
    """A broker in a Docker container (`self.container`, docker-py's).
    Killing, stopping and starting it keep the container, its hostname and so
    its node's data; its published ports stay, so URLs stay valid."""

    def running(self):
        self.container.reload()
        return self.container.status == "running"

    def start(self):
        self.container.start()
        self.wait_accepts_amqp(120)
        return self

    def crash(self):
        self.container.kill(signal="SIGKILL")
        wait_until(lambda: not self.running(), 30, f"{self.node} to die")

    def stop(self):
        self.container.stop(timeout=60)

    def pause(self):
        self.container.pause()

    def resume(self):
        self.container.unpause()

    def rabbitmqctl(self, *args):
        command = ["rabbitmqctl", *args]
        code, (out, err) = self.container.exec_run(command, demux=True)
        out, err = (out or b"").decode(), (err or b"").decode()
        if code != 0:
            raise subprocess.CalledProcessError(code, command, out, err)
        return out


class DockerBroker(ContainerBroker):
    """testcontainers' RabbitMQ container of RABBITMQ_IMAGE. Its own stop()
    removes the container, data and all: that is remove()."""

    node = "the RabbitMQ container"

    def __init__(self):
        from testcontainers.community.rabbitmq import RabbitMqContainer

        self.image = rabbitmq_image()
        self.port = free_port()
        self.testcontainer = RabbitMqContainer(self.image).with_volume_mapping(
            str(REPOSITORY / "rabbitmq"), "/work-queues/rabbitmq", "ro"
        )
        # Published on this machine only, as docker-compose.yml does.
        self.testcontainer.ports[str(AMQP_PORT)] = (LOOPBACK, self.port)
        self.container = None

    def start(self):
        if self.container:
            return super().start()
        try:
            self.testcontainer.start()  # waits until AMQP answers
        except BaseException:
            self.remove()  # a container that fails to start is not left behind
            raise
        self.container = self.testcontainer.get_wrapped_container()
        # Wherever testcontainers says the container's port is.
        self.host = self.testcontainer.get_container_host_ip()
        self.port = int(self.testcontainer.get_exposed_port(AMQP_PORT))
        return self

    def import_definitions(self, path):
        # The repository's rabbitmq/ folder is mounted in the container (see __init__).
        self.rabbitmqctl("import_definitions", f"/work-queues/{Path(path).relative_to(REPOSITORY)}")

    def remove(self):
        self.testcontainer.stop()
