"""The project's own docker-compose.yml, run as a user runs it (Compose v2,
`docker compose`, where it is there), under a project name of its own."""

import functools
import os
import subprocess
import uuid

from .base import REPOSITORY, free_port, wait_until
from .containers import ContainerBroker, rabbitmq_image

COMPOSE_FILE = REPOSITORY / "docker-compose.yml"


@functools.cache
def compose_command():
    """Compose v2 (`docker compose`, what the README has users type) where
    the plugin is there, else v1 (`docker-compose`; CI installs v2:
    .ci/compose-v2). The report's header says which."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
    return ["docker", "compose"] if v2.returncode == 0 else ["docker-compose"]


def compose_version():
    """The compose command and its version, for the report's header."""
    command = compose_command()
    try:
        answer = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"{' '.join(command)}: {exc}"
    return f"{' '.join(command)} ({(answer.stdout.strip() or answer.stderr.strip()).splitlines()[0]})"


class ComposeProject:
    """The project's own docker-compose.yml, as a user runs it, under a project
    name of its own, with the image RABBITMQ_IMAGE and every port on a free
    port, published where the file says by default (127.0.0.1): it collides
    with no other broker or test run. `variables` are more of the file's
    variables (WORKER_IMAGE=...)."""

    PORTS = ("RABBITMQ_PORT", "RABBITMQ_UI_PORT", "RABBIT1_PORT", "RABBIT1_UI_PORT", "RABBIT2_PORT", "RABBIT3_PORT")

    def __init__(self, *options, **variables):
        import docker

        self.name = f"wq-test-{uuid.uuid4().hex[:8]}"
        self.options = options  # e.g. "--profile", "cluster"
        self.ports = {variable: free_port() for variable in self.PORTS}
        self.env = dict(
            os.environ,
            COMPOSE_PROJECT_NAME=self.name,
            RABBITMQ_IMAGE=rabbitmq_image(),
            **{variable: str(port) for variable, port in self.ports.items()},
            **variables,
        )
        self.env.pop("RABBITMQ_BIND", None)
        self.docker = docker.from_env()
        self.command = compose_command()

    def run(self, *args, timeout=180):
        """`docker compose ARGS...` in this project; its stdout."""
        command = [*self.command, "-f", str(COMPOSE_FILE), *self.options, *args]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
        return result.stdout

    def containers(self, service):
        """The service's containers (several once scaled), by name."""
        found = [self.docker.containers.get(i) for i in self.run("ps", "-a", "-q", service).split()]
        return sorted(found, key=lambda container: container.name)

    def container(self, service):
        (container,) = self.containers(service)
        return container

    def health(self, service):
        state = self.container(service).attrs["State"]
        return state.get("Health", {}).get("Status")

    def wait_healthy(self, *services, timeout=120):
        wait_until(
            lambda: all(self.health(service) == "healthy" for service in services),
            timeout, f"{', '.join(services)} to turn healthy",
        )

    def node(self, service, port_variable):
        return ComposeNode(self, service, self.ports[port_variable])

    def down(self):
        self.run("down", "-v", "--remove-orphans")


class ComposeNode(ContainerBroker):
    """A RabbitMQ service of a ComposeProject, once it is up."""

    def __init__(self, project, service, port):
        self.container = project.container(service)
        self.node = f"rabbit@{service}"  # the image names the node after the host name
        self.port = port
