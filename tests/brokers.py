"""Brokers the test suite owns, since its tests crash and restart them.

TEST_BROKER chooses their kind: `docker` (the image RABBITMQ_IMAGE, default
the official rabbitmq:4-management), `local` (the locally installed
rabbitmq-server), or `auto`, the default: Docker where an engine answers,
else local.

- DockerBroker: testcontainers' RabbitMQ container.
- LocalNode: a private node of the locally installed rabbitmq-server, on its
  own node name, ports, epmd, data directory and Erlang cookie; the system's
  own broker (5672) and epmd (4369) are never touched.
- LocalCluster, ComposeCluster: three nodes in one cluster, of private local
  nodes, or docker-compose.yml's cluster profile (ComposeNode).
- LocalPartitionableCluster, ContainerPartitionableCluster: three nodes, each
  on a loopback address of its own, that iptables can cut off from each other
  while clients still reach every node (own_cluster(..., partitionable=True)).
- TlsNode, TlsContainer: a LocalNode or a DockerBroker that also speaks
  amqps:// on a port of its own (own_tls_broker).

Every broker, and every node of a cluster, offers the same few verbs: host,
port, url, start, crash (SIGKILL), stop, restart (clean), running,
frozen (paused: it answers nothing), queue_counts, flush_definitions, remove.
A partitionable cluster adds cut_off(node), heal() and wait_healed().
"""

import atexit
import contextlib
import functools
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pika

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
REPOSITORY = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
# The broker policy that parks poison tasks (see the README), as users apply it.
POLICIES = REPOSITORY / "rabbitmq" / "definitions" / "policies.json"
OFFICIAL_IMAGE = "rabbitmq:4-management"
AMQP_PORT = 5672
LOOPBACK = "127.0.0.1"

# testcontainers, unless told otherwise: connect to the ports it publishes on
# this host (Docker's marker file /.dockerenv, which some machines that are no
# container carry, sends it looking for a gateway instead), and no Ryuk, its
# reaper, which is one more image to pull: our fixtures remove their
# containers themselves, after a failure too.
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


class NoBroker(Exception):
    """The kind of broker asked for cannot be had here; the message says why."""


def rabbitmq_image():
    return os.environ.get("RABBITMQ_IMAGE") or OFFICIAL_IMAGE


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


def free_port():
    """A port free now, below the range from which the kernel gives ports to
    outgoing connections and to bind(0) (from 32768 by default; rabbitmqctl's
    35672-35682 are above too): while a broker of ours is down, no client's
    connection and no other test run can take its port, which the broker
    then could not listen on again (seen here as eaddrinuse). Free on every
    address: partitionable clusters listen on loopback addresses of their own
    (a bind only, nothing listens)."""
    while True:
        port = random.randrange(10000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
        return port


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def accepts_amqp(url):
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
        return True
    except (pika.exceptions.AMQPError, OSError):
        return False


def ready_count(url, queue):
    """Tasks waiting in the queue, as the queue itself counts them now.
    (rabbitmqctl's counts for quorum queues are statistics, seconds old.)"""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def connection_names(broker):
    """The client-provided names of the broker's connections: our scripts
    call theirs "worker.py (pid N)"."""
    listing = broker.rabbitmqctl("-s", "list_connections", "client_properties")
    return re.findall(r'"connection_name",(?:\w+,)?"([^"]*)"', listing)


def parse_queue_counts(listing, queue):
    """(ready, unacknowledged) from `rabbitmqctl -s list_queues name messages_ready
    messages_unacknowledged`; (0, 0) for a queue that does not exist."""
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == queue:
            return int(fields[1]), int(fields[2])
    return 0, 0


# A durable queue must be on disk before a test kills its broker. RabbitMQ 3.x
# keeps queue definitions in Mnesia, whose transaction log reaches the disk a
# moment after the declare returns: a queue declared just before a SIGKILL can
# be gone after the restart, tasks and all (seen here, about one crash in ten).
# disk_log:sync writes that log now. Where the metadata store is Khepri (the
# default from 4.2 on), the declare returns once the definition is in Ra's
# write-ahead log, written and synced: there is nothing to flush.
FLUSH_DEFINITIONS = (
    "case catch rabbit_khepri:is_enabled() of"
    " true -> khepri; _ -> disk_log:sync(latest_log) end."
)


class Broker:
    """What every kind of broker does the same way. A kind has node, port,
    start, stop, crash, running, and rabbitmqctl."""

    host = LOOPBACK

    @property
    def url(self):
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    def wait_accepts_amqp(self, timeout=60):
        wait_until(lambda: accepts_amqp(self.url), timeout, f"{self.node} to accept AMQP")

    def restart(self):
        self.stop()
        return self.start()

    def queue_counts(self, queue):
        listing = self.rabbitmqctl("-s", "list_queues", "name", "messages_ready", "messages_unacknowledged")
        return parse_queue_counts(listing, queue)

    @contextlib.contextmanager
    def frozen(self):
        """The broker stops answering, as a hung one does, with every
        connection left open: its process is paused, then resumed."""
        self.pause()
        try:
            yield self
        finally:
            self.resume()

    def flush_definitions(self):
        answer = self.rabbitmqctl("eval", FLUSH_DEFINITIONS).strip()
        assert answer in ("ok", "khepri"), f"flushing queue definitions on {self.node}: {answer}"


class LocalNode(Broker):
    """address: a loopback address of the node's own, for AMQP and the Erlang
    distribution, listening and connecting (so that iptables can tell its
    traffic apart), with a long node name NAME@ADDRESS; its epmd listens on
    epmd_addresses. Without one, 127.0.0.1 and NAME@localhost."""

    def __init__(
        self, base_dir, name=None, cookie="work-queues-test-cookie", extra_config="", epmd_port=None,
        address=None, epmd_addresses=None,
    ):
        self.base_dir = Path(base_dir)
        self.address = address
        self.host = address or LOOPBACK
        self.epmd_addresses = epmd_addresses or [self.host]
        self.node = f"{name or f'wq-test-{os.getpid()}'}@{address or 'localhost'}"
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = epmd_port or free_port()  # an epmd of our own, not the system's 4369
        self.home = self.base_dir / "home"  # the Erlang cookie lives in $HOME
        self.home.mkdir(parents=True, exist_ok=True)
        cookie_file = self.home / ".erlang.cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o400)
        (self.base_dir / "enabled_plugins").write_text("[].\n")
        (self.base_dir / "rabbitmq.conf").write_text(extra_config)
        (self.base_dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        self.pid_file = self.base_dir / "node.pid"

    @staticmethod
    def installed():
        return (RABBITMQ_BIN / "rabbitmq-server").exists()

    def env(self):
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS=",".join(self.epmd_addresses),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="true" if self.address else "false",
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base_dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base_dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base_dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base_dir / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base_dir / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=distribution_erl_args(self.host, connect_from=self.address),
            ERL_CRASH_DUMP=str(self.base_dir / "erl_crash.dump"),
        )
        return env

    def log_text(self):
        """The node's log so far."""
        log = self.base_dir / "log" / f"{self.node}.log"
        return log.read_text(errors="replace") if log.exists() else f"(no log: {log})"

    def ctl(self, *args, timeout=60, check=True):
        return subprocess.run(
            [RABBITMQ_BIN / "rabbitmqctl", "-n", self.node, *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, check=check,
        )

    def rabbitmqctl(self, *args):
        """rabbitmqctl ARGS on this node, as its operator types it; its stdout."""
        return self.ctl(*args).stdout

    def import_definitions(self, path):
        self.ctl("import_definitions", str(path))

    def launch(self):
        """Start the node's process, and return before it has booted."""
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(
            [RABBITMQ_BIN / "rabbitmq-server", "-detached"],
            env=self.env(), check=True, capture_output=True, timeout=30,
        )

    def wait_booted(self, timeout=90):
        wait_until(self.pid_file.exists, 30, f"{self.node} to write its pid file")
        waited = self.ctl("wait", "--timeout", str(timeout), str(self.pid_file), timeout=timeout + 10, check=False)
        if waited.returncode != 0:
            raise TimeoutError(
                f"{self.node} did not boot within {timeout} s ({waited.stderr.strip()}); the end of its log:\n"
                + self.log_text()[-3000:]
            )
        self.wait_accepts_amqp(30)

    def start(self):
        self.launch()
        self.wait_booted()
        return self

    def pid(self):
        return int(self.pid_file.read_text().strip())

    def running(self):
        try:
            os.kill(self.pid(), 0)
            return True
        except (OSError, ValueError):
            return False

    def crash(self):
        """SIGKILL, as a power cut would: no chance to flush or say goodbye."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.running(), 30, f"{self.node} to die")

    def pause(self):
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid(), signal.SIGCONT)

    def stop(self):
        if self.running():
            self.ctl("stop", timeout=120, check=False)
            wait_until(lambda: not self.running(), 60, f"{self.node} to stop")

    def end_epmd(self):
        """End the epmd the node started. It refuses while a node is registered:
        rabbitmqctl's own may still be leaving."""

        def ended():
            answer = subprocess.run(
                ["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True, text=True, timeout=30
            )
            return answer.stdout.startswith("Killed") or "Cannot connect" in answer.stderr

        wait_until(ended, 30, f"the epmd on port {self.epmd_port} to end")

    def remove(self):
        self.stop()  # the data and logs stay for a post-mortem; pytest prunes old temp dirs
        self.end_epmd()


def distribution_erl_args(address, connect_from=None):
    """Erlang flags that make the node's distribution listen on `address`
    only and, with connect_from, connect to other nodes from that address:
    else they leave from 127.0.0.1 and no iptables rule of a node's address
    matches them."""
    erlang_address = "{" + address.replace(".", ",") + "}"
    args = f"-kernel inet_dist_use_interface {erlang_address}"
    if connect_from:
        args += f" -kernel inet_dist_connect_options [{{ip,{erlang_address}}}]"
    return args


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


def compose_command():
    """Compose v2 (`docker compose`) where the plugin is there, else v1."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
    return ["docker", "compose"] if v2.returncode == 0 else ["docker-compose"]


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


class Cluster:
    """Nodes in one cluster, started together: RabbitMQ 4.x's peer discovery
    makes a node that boots alone wait about 100 s for its peers."""

    def start(self):
        """Bring up the nodes (bring_up, of each kind), wait until they form
        one cluster; on a failure, remove what came up."""
        try:
            self.bring_up()
            self.wait_formed()
        except BaseException:
            self.remove()
            raise
        return self

    def urls(self, first=0):
        """All the nodes' URLs, comma-separated, starting at node `first`."""
        ordered = self.nodes[first:] + self.nodes[:first]
        return ",".join(node.url for node in ordered)

    def any_running(self):
        return next(node for node in self.nodes if node.running())

    def running_nodes(self):
        status = self.any_running().rabbitmqctl("cluster_status", "--formatter", "json")
        return set(json.loads(status)["running_nodes"])

    def wait_formed(self, timeout=120):
        everyone = {node.node for node in self.nodes}
        wait_until(lambda: self.running_nodes() == everyone, timeout, f"the cluster {sorted(everyone)}")

    def leader(self, queue):
        listing = self.any_running().rabbitmqctl("-s", "list_queues", "name", "leader")
        for line in listing.splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return next(node for node in self.nodes if node.node == leader.strip())
        raise LookupError(f"no leader for {queue}")


def boot_local_nodes(nodes):
    """Boot local nodes that are to form one cluster. On RabbitMQ 3.x the
    first boots alone, then the rest join it: started all at once they take
    turns through peer discovery's lock anyway, slower (measured: formed in
    24-40 s this way, 30-56 s at once, on 2 busy cores), and once in CI one of
    them was not up after 90 s. 4.x makes a node that boots alone wait for its
    peers, so there they start together."""
    first, rest = (nodes[:1], nodes[1:]) if local_rabbitmq_major() < 4 else ([], nodes)
    for group in (first, rest):
        for node in group:
            node.launch()
        for node in group:
            node.wait_booted()


@functools.cache
def local_rabbitmq_major():
    """The major version of the installed rabbitmq-server, from its folder's name."""
    folder = next((RABBITMQ_BIN.parent / "lib").glob("rabbitmq_server-*"))
    return int(folder.name.removeprefix("rabbitmq_server-").split(".")[0])


class LocalCluster(Cluster):
    """Three (or `size`) private local nodes, sharing one epmd of their own,
    joined into one cluster by classic peer discovery and configured by
    cluster/rabbitmq.conf, as docker-compose.yml's cluster profile is."""

    def __init__(self, base_dir, size=3):
        names = [f"wq-c{n}-{os.getpid()}" for n in range(1, size + 1)]
        config = cluster_config([f"{name}@localhost" for name in names], {})
        epmd_port = free_port()
        self.nodes = [
            LocalNode(Path(base_dir) / name, name=name, extra_config=config, epmd_port=epmd_port)
            for name in names
        ]

    def bring_up(self):
        boot_local_nodes(self.nodes)

    def remove(self):
        for node in self.nodes:
            node.stop()
        self.nodes[0].end_epmd()


class ComposeCluster(Cluster):
    """docker-compose.yml's cluster profile: rabbit1, rabbit2 and rabbit3."""

    SERVICES = ("rabbit1", "rabbit2", "rabbit3")

    def __init__(self):
        self.project = ComposeProject("--profile", "cluster")
        self.nodes = []

    def bring_up(self):
        self.project.run("up", "-d", *self.SERVICES)
        self.project.wait_healthy(*self.SERVICES)
        self.nodes = [self.project.node(s, f"{s.upper()}_PORT") for s in self.SERVICES]

    def remove(self):
        self.project.down()


# The loopback addresses of the partitionable clusters' nodes: local RabbitMQ
# 3.x nodes, and 4.x containers on the host's network. The iptables rules that
# cut them apart name these addresses, and only these.
PARTITION_ADDRESSES = {
    "local": ("127.0.0.11", "127.0.0.12", "127.0.0.13"),
    "docker": ("127.0.0.21", "127.0.0.22", "127.0.0.23"),
}
CLUSTER_CONFIG = REPOSITORY / "cluster" / "rabbitmq.conf"


def cluster_config(node_names, settings):
    """cluster/rabbitmq.conf, as docker-compose.yml's cluster nodes read it,
    for nodes of other names: its peer discovery lists `node_names` instead of
    rabbit@rabbit1..3, and `settings` ({key: value}) replace or add keys."""
    kept = [
        line
        for line in CLUSTER_CONFIG.read_text().splitlines()
        if not line.startswith("cluster_formation.classic_config.nodes.")
        and line.partition("=")[0].strip() not in settings
    ]
    peers = [f"cluster_formation.classic_config.nodes.{n} = {name}" for n, name in enumerate(node_names, 1)]
    added = [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(kept + peers + added) + "\n"


def unless_cli_fails(condition):
    """condition(), or False while the rabbitmqctl it runs fails or hangs, as
    it may on a node during a partition and while it heals."""

    def checked():
        try:
            return condition()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, LookupError):
            return False

    return checked


def iptables(*args):
    """iptables ARGS, waiting for the lock other users of iptables may hold;
    True if it succeeded."""
    return subprocess.run(["iptables", "-w", "10", *args], capture_output=True, timeout=60).returncode == 0


def drop_rule(source, destination):
    """The one rule spec of ours: packets from `source` to `destination`, two
    of our nodes' addresses, are dropped. Added, checked and deleted by this
    exact spec, so no other rule is ever touched."""
    assert {source, destination} <= {a for pair in PARTITION_ADDRESSES.values() for a in pair}
    return ["INPUT", "-s", source, "-d", destination, "-j", "DROP"]


def delete_drop_rule(source, destination):
    """Delete every copy of our rule from `source` to `destination`: one this
    run added, or one an earlier run left behind when it was killed."""
    while iptables("-C", *drop_rule(source, destination)):
        assert iptables("-D", *drop_rule(source, destination)), f"iptables -D {drop_rule(source, destination)}"


class PartitionableCluster(Cluster):
    """Three nodes, each on a loopback address of its own (node.host), for
    AMQP and the distribution between nodes, so that iptables can cut one off
    from the two others (cut_off) while every client still reaches every
    node: a network partition. heal() deletes exactly the rules cut_off
    added; remove(), and the end of the Python process, heal too. Nodes are
    configured by cluster/rabbitmq.conf, as docker-compose.yml's are. The
    addresses are fixed: one such cluster of each kind on a machine at once.

    A kind has `nodes`, start_nodes and remove_nodes."""

    def __init__(self, addresses):
        if os.geteuid() != 0 or not shutil.which("iptables"):
            raise NoBroker("a partitionable cluster needs iptables, as root")
        self.addresses = addresses
        self.rules = []  # (source, destination) of each DROP rule we added
        atexit.register(self.heal)  # an interrupted run leaves no rule behind

    def bring_up(self):
        self.heal_stale()
        self.start_nodes()

    def heal_stale(self):
        """Delete our rules between these addresses that an earlier run,
        killed before it could, left behind."""
        for source in self.addresses:
            for destination in self.addresses:
                if source != destination:
                    delete_drop_rule(source, destination)

    def cut_off(self, node):
        """From now on `node` and the other nodes cannot reach each other, in
        either direction. Returns a context manager that heals on exit."""
        self.heal_stale()
        for other in self.nodes:
            if other is not node:
                for source, destination in ((node.host, other.host), (other.host, node.host)):
                    self.rules.append((source, destination))
                    assert iptables("-I", *drop_rule(source, destination)), "iptables -I failed"
        return Healing(self)

    def heal(self):
        """Delete the rules cut_off added: the nodes reach each other again."""
        while self.rules:
            delete_drop_rule(*self.rules.pop())

    def remove(self):
        try:
            self.heal()
        finally:
            self.remove_nodes()

    def cluster_status(self, seen_from):
        return json.loads(seen_from.rabbitmqctl("cluster_status", "--formatter", "json"))

    def running_nodes(self, seen_from=None):
        """The nodes running in the cluster, as `seen_from` (a node) sees them."""
        return set(self.cluster_status(seen_from or self.nodes[0])["running_nodes"])

    def partitions(self, seen_from=None):
        """The partitions RabbitMQ 3.x's node reports (none on 4.x)."""
        return self.cluster_status(seen_from or self.nodes[0]).get("partitions") or {}

    def leader(self, queue, seen_from=None):
        """The node that leads the quorum queue, as `seen_from` knows it:
        RabbitMQ 3.x's queue record names the new leader only once the old
        one is seen down (net_ticktime), though it is elected in seconds."""
        listing = (seen_from or self.nodes[0]).rabbitmqctl("-s", "list_queues", "name", "leader")
        for line in listing.splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return next(node for node in self.nodes if node.node == leader.strip())
        raise LookupError(f"no leader for {queue}")

    def wait_cut_off(self, node, timeout=120):
        """Every other node has seen `node` go down: the distribution's
        failure detection (net_ticktime, 60 s by default: 45 to 75 s after
        the cut) has fired."""
        others = [other for other in self.nodes if other is not node]
        wait_until(
            unless_cli_fails(lambda: all(node.node not in self.running_nodes(other) for other in others)),
            timeout, f"the other nodes to see {node.node} down",
        )

    def healed(self):
        everyone = {node.node for node in self.nodes}
        return all(self.running_nodes(n) == everyone and not self.partitions(n) for n in self.nodes)

    def recover(self, node):
        """Restart `node` as its operator would when it does not rejoin by
        itself: under RabbitMQ 3.x's ignore, or when a 3.10.8 node on Erlang
        25.1+ hangs in global:sync while it restarts after pause_minority
        (rabbitmq-server#6034, fixed after 3.10.8: Debian 12 ships 3.10.8)."""
        node.crash()
        node.start()

    def wait_healed(self, timeout=120):
        """Every node sees every other running, and no partition. RabbitMQ
        3.x gets there by itself under pause_minority (as cluster/rabbitmq.conf
        ships) or autoheal, never under its default, ignore."""
        wait_until(unless_cli_fails(self.healed), timeout, "the cluster to heal")


class Healing:
    def __init__(self, cluster):
        self.cluster = cluster

    def __enter__(self):
        return self.cluster

    def __exit__(self, *exc_info):
        self.cluster.heal()


class LocalPartitionableCluster(PartitionableCluster):
    """Private local nodes (RabbitMQ 3.x here) on 127.0.0.11-13, sharing one
    epmd of their own that listens on those addresses (and so of different
    names before the @: epmd knows them by that part)."""

    def __init__(self, base_dir, settings):
        super().__init__(PARTITION_ADDRESSES["local"])
        names = [f"wq-p{n}-{os.getpid()}" for n in range(1, len(self.addresses) + 1)]
        nodes = [f"{name}@{address}" for name, address in zip(names, self.addresses)]
        config = cluster_config(nodes, settings)
        epmd_port = free_port()
        self.nodes = [
            LocalNode(
                Path(base_dir) / name, name=name, extra_config=config, epmd_port=epmd_port,
                address=address, epmd_addresses=self.addresses,
            )
            for name, address in zip(names, self.addresses)
        ]

    def start_nodes(self):
        boot_local_nodes(self.nodes)

    def remove_nodes(self):
        for node in self.nodes:
            # One that will not stop (seen: a 3.x node hung rejoining after a
            # partition) is killed, and the others are still stopped.
            try:
                node.stop()
            except Exception:
                if node.running():
                    node.crash()
        self.nodes[0].end_epmd()


class HostNetworkNode(ContainerBroker):
    """A node of a ContainerPartitionableCluster: a container on the host's
    network (no port to publish: its listeners bind its own loopback address)."""

    def __init__(self, container, node, address, port):
        self.container = container
        self.node = node
        self.host = address
        self.port = port

    def import_definitions(self, path):
        self.rabbitmqctl("import_definitions", f"/work-queues/{Path(path).relative_to(REPOSITORY)}")

    def log_text(self):
        return self.container.logs().decode(errors="replace")


class ContainerPartitionableCluster(PartitionableCluster):
    """Containers of RABBITMQ_IMAGE (RabbitMQ 4.x) on the host's network,
    on 127.0.0.21-23, with an epmd of their own in one more container (the
    system's has 4369 on the host's network), sharing an Erlang cookie,
    clustered by classic peer discovery. The node containers' plugins are
    off: with the host's network, the management plugin of each would want
    15672 on every address."""

    COOKIE = "work-queues-partition-cookie"

    def __init__(self, base_dir, settings):
        import docker

        super().__init__(PARTITION_ADDRESSES["docker"])
        self.docker = docker.from_env()
        self.image = rabbitmq_image()
        self.name = f"wq-part-{uuid.uuid4().hex[:8]}"
        self.base_dir = Path(base_dir)
        self.base_dir.chmod(0o755)  # the containers' rabbitmq user reads the files mounted from here
        self.epmd_port = free_port()
        self.ports = [free_port() for _ in self.addresses]
        # One epmd for all: it knows nodes by the part before the @.
        self.node_names = [f"rabbit{n}@{address}" for n, address in enumerate(self.addresses, 1)]
        self.config = cluster_config(self.node_names, settings)
        self.containers = []
        self.nodes = []

    def file(self, name, text):
        path = self.base_dir / name
        path.write_text(text)
        path.chmod(0o644)
        return str(path)

    def run(self, name, **options):
        container = self.docker.containers.run(
            self.image, name=f"{self.name}-{name}", detach=True, network_mode="host",
            labels={"work-queues-test": self.name}, **options,
        )
        self.containers.append(container)
        return container

    def start_nodes(self):
        self.run("epmd", entrypoint=["epmd", "-port", str(self.epmd_port), "-address", ",".join(self.addresses)])
        plugins = self.file("enabled_plugins", "[].\n")
        for n, (node, address, port) in enumerate(zip(self.node_names, self.addresses, self.ports), 1):
            config = self.file(f"rabbit{n}.conf", f"{self.config}listeners.tcp.default = {address}:{port}\n")
            container = self.run(
                f"rabbit{n}",
                environment=dict(
                    ERLANG_COOKIE=self.COOKIE,
                    RABBITMQ_NODENAME=node,
                    RABBITMQ_USE_LONGNAME="true",
                    RABBITMQ_DIST_PORT=str(free_port()),
                    ERL_EPMD_PORT=str(self.epmd_port),
                    ERL_EPMD_ADDRESS=",".join(self.addresses),
                    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=distribution_erl_args(address, connect_from=address),
                ),
                # Put the shared cookie in place, then start as the image does
                # (as docker-compose.yml's cluster nodes do).
                entrypoint=[
                    "sh", "-c",
                    'umask 077 && printf %s "$ERLANG_COOKIE" > /var/lib/rabbitmq/.erlang.cookie'
                    " && chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie"
                    " && exec docker-entrypoint.sh rabbitmq-server",
                ],
                volumes={
                    config: {"bind": "/etc/rabbitmq/conf.d/20-cluster.conf", "mode": "ro"},
                    plugins: {"bind": "/etc/rabbitmq/enabled_plugins", "mode": "ro"},
                    str(REPOSITORY / "rabbitmq"): {"bind": "/work-queues/rabbitmq", "mode": "ro"},
                },
            )
            self.nodes.append(HostNetworkNode(container, node, address, port))
        for node in self.nodes:
            wait_until(lambda: accepts_amqp(node.url) or not node.running(), 180, f"{node.node} to accept AMQP")
            assert node.running(), f"{node.node} exited: {node.log_text()[-3000:]}"

    def remove_nodes(self):
        while self.containers:
            self.containers.pop().remove(force=True, v=True)


def own_tls_broker(base_dir, name, cacertfile, certfile, keyfile, client_certificates=False):
    """A broker of the kind TEST_BROKER asks that also speaks amqps://, on a
    port of its own (`tls_port`, `tls_url`), with the given PEM files: its CA,
    its certificate and key. With client_certificates=True it refuses any
    client that does not show a certificate its CA signed (mutual TLS). `url`
    stays the plain AMQP listener. Not started."""
    kind = TlsContainer if broker_kind() == "docker" else TlsNode
    return kind(base_dir, name, cacertfile, certfile, keyfile, client_certificates)


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
