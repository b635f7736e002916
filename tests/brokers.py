"""Brokers the test suite owns, since its tests crash and restart them.

- DockerBroker: testcontainers' RabbitMQ container (official image), for
  machines with a Docker engine.
- LocalNode: a private node of the locally installed rabbitmq-server, on its
  own node name, ports, data directory and Erlang cookie; the system's own
  broker (5672) is never touched.

Both offer the same few verbs: url, crash (SIGKILL), stop, start, restart
(clean), queue_counts, flush_definitions.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pika

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
REPOSITORY = Path(__file__).resolve().parent.parent
# The broker policy that parks poison tasks (see the README), as users apply it.
POLICIES = REPOSITORY / "rabbitmq" / "definitions" / "policies.json"
DOCKER_IMAGE = "rabbitmq:4"
AMQP_PORT = 5672


def free_port():
    """A port nobody listens on, outside the range rabbitmqctl uses for itself."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 35672 <= port <= 35682:
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


# RabbitMQ 3.x keeps queue definitions in Mnesia, whose transaction log reaches
# the disk a moment after the declare returns: a durable queue declared just
# before a SIGKILL can be gone after the restart, tasks and all (seen here,
# about one crash in ten). This writes the log now. On brokers without Mnesia
# it answers an error and changes nothing.
FLUSH_DEFINITIONS = ["eval", "disk_log:sync(latest_log)."]


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


class LocalNode:
    def __init__(self, base_dir, name=None, cookie="work-queues-test-cookie", extra_config=""):
        self.base_dir = Path(base_dir)
        self.node = f"{name or f'wq-test-{os.getpid()}'}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
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

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def env(self):
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base_dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base_dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base_dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base_dir / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base_dir / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_CRASH_DUMP=str(self.base_dir / "erl_crash.dump"),
        )
        return env

    def ctl(self, *args, timeout=60, check=True):
        return subprocess.run(
            [RABBITMQ_BIN / "rabbitmqctl", "-n", self.node, *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, check=check,
        )

    def start(self, timeout=90):
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(
            [RABBITMQ_BIN / "rabbitmq-server", "-detached"],
            env=self.env(), check=True, capture_output=True, timeout=30,
        )
        wait_until(self.pid_file.exists, 30, f"{self.node} to write its pid file")
        self.ctl("wait", "--timeout", str(timeout), str(self.pid_file), timeout=timeout + 10)
        wait_until(lambda: accepts_amqp(self.url), 30, f"{self.node} to accept AMQP")
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

    def stop(self):
        if self.running():
            self.ctl("stop", timeout=120, check=False)
            wait_until(lambda: not self.running(), 60, f"{self.node} to stop")

    def restart(self):
        self.stop()
        return self.start()

    def queue_counts(self, queue):
        listing = self.ctl("-s", "list_queues", "name", "messages_ready", "messages_unacknowledged")
        return parse_queue_counts(listing.stdout, queue)

    def rabbitmqctl(self, *args):
        """rabbitmqctl ARGS on this node, as its operator types it; its stdout."""
        return self.ctl(*args).stdout

    def import_definitions(self, path):
        self.ctl("import_definitions", str(path))

    def flush_definitions(self):
        self.ctl(*FLUSH_DEFINITIONS)

    def remove(self):
        self.stop()  # the data and logs stay for a post-mortem; pytest prunes old temp dirs


def docker_engine_available():
    try:
        from testcontainers.core.docker_client import DockerClient

        return DockerClient().client.ping()
    except Exception:  # no docker package, no socket, no engine: all mean no
        return False


class DockerBroker:
    """testcontainers' RabbitMQ container. Its own stop() removes the container,
    data and all, so crash and restart use the container's kill/stop/start,
    which keep it, its hostname and so its node's data. The host port is
    bound once, so URLs stay valid across restarts."""

    def __init__(self, image=DOCKER_IMAGE):
        from testcontainers.community.rabbitmq import RabbitMqContainer

        self.port = free_port()
        self.container = (
            RabbitMqContainer(image)
            .with_bind_ports(AMQP_PORT, self.port)
            .with_volume_mapping(str(REPOSITORY / "rabbitmq"), "/work-queues/rabbitmq", "ro")
        )
        self.created = False

    @property
    def url(self):
        return f"amqp://guest:guest@{self.container.get_container_host_ip()}:{self.port}/%2F"

    def start(self):
        if self.created:
            self.container.get_wrapped_container().start()
        else:
            self.container.start()  # waits until AMQP answers
            self.created = True
        wait_until(lambda: accepts_amqp(self.url), 120, "the RabbitMQ container to accept AMQP")
        return self

    def crash(self):
        self.container.get_wrapped_container().kill(signal="SIGKILL")

    def stop(self):
        self.container.get_wrapped_container().stop(timeout=60)

    def restart(self):
        self.stop()
        return self.start()

    def queue_counts(self, queue):
        return parse_queue_counts(
            self.rabbitmqctl("-s", "list_queues", "name", "messages_ready", "messages_unacknowledged"),
            queue,
        )

    def rabbitmqctl(self, *args):
        result = self.container.exec(["rabbitmqctl", *args])
        assert result.exit_code == 0, result.output.decode()
        return result.output.decode()

    def import_definitions(self, path):
        # The repository's rabbitmq/ folder is mounted in the container (see __init__).
        self.rabbitmqctl("import_definitions", f"/work-queues/{Path(path).relative_to(REPOSITORY)}")

    def flush_definitions(self):
        self.container.exec(["rabbitmqctl", *FLUSH_DEFINITIONS])

    def remove(self):
        self.container.stop()


def own_broker(base_dir):
    """A broker to crash and restart at will: a container where Docker runs,
    else a private local node; None where neither can be had. Not started."""
    if docker_engine_available():
        return DockerBroker()
    if LocalNode.installed():
        return LocalNode(base_dir)
    return None


class LocalCluster:
    """Three (or `size`) private local nodes joined into one cluster by
    classic peer discovery, as docker-compose.yml's cluster profile does."""

    def __init__(self, base_dir, size=3):
        names = [f"wq-c{n}-{os.getpid()}" for n in range(1, size + 1)]
        config = "cluster_formation.peer_discovery_backend = classic_config\n" + "".join(
            f"cluster_formation.classic_config.nodes.{n} = {name}@localhost\n"
            for n, name in enumerate(names, 1)
        )
        self.nodes = [LocalNode(Path(base_dir) / name, name=name, extra_config=config) for name in names]

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    def urls(self, first=0):
        """All the nodes' URLs, comma-separated, starting at node `first`."""
        ordered = self.nodes[first:] + self.nodes[:first]
        return ",".join(node.url for node in ordered)

    def any_running(self):
        return next(node for node in self.nodes if node.running())

    def running_nodes(self):
        status = self.any_running().ctl("cluster_status", "--formatter", "json")
        return set(json.loads(status.stdout)["running_nodes"])

    def leader(self, queue):
        listing = self.any_running().ctl("-s", "list_queues", "name", "leader").stdout
        for line in listing.splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return next(node for node in self.nodes if node.node == leader.strip())
        raise LookupError(f"no leader for {queue}")

    def remove(self):
        for node in self.nodes:
            node.stop()


class TlsNode(LocalNode):
    """A LocalNode that also speaks amqps://, on a port of its own (`tls_url`),
    with the given PEM files: its CA, its certificate and key. With
    client_certificates=True it refuses any client that does not show a
    certificate its CA signed (mutual TLS). `url` stays the plain AMQP
    listener, which start() waits for; both open in the same boot step.

    It registers with an epmd of its own, not the system's on 4369, and
    remove() ends that epmd."""

    def __init__(self, base_dir, name, cacertfile, certfile, keyfile, client_certificates=False):
        self.tls_port = free_port()
        self.epmd_port = free_port()
        config = (
            f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {cacertfile}\n"
            f"ssl_options.certfile = {certfile}\n"
            f"ssl_options.keyfile = {keyfile}\n"
            f"ssl_options.verify = {'verify_peer' if client_certificates else 'verify_none'}\n"
            f"ssl_options.fail_if_no_peer_cert = {'true' if client_certificates else 'false'}\n"
        )
        super().__init__(base_dir, name=name, extra_config=config)

    def tls_url(self, host="localhost"):
        return f"amqps://guest:guest@{host}:{self.tls_port}/%2F"

    def env(self):
        return {**super().env(), "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1"}

    def remove(self):
        super().remove()
        # epmd refuses while a node is registered: rabbitmqctl's own may still be leaving.
        wait_until(self._end_epmd, 30, f"the epmd on port {self.epmd_port} to end")

    def _end_epmd(self):
        ask = subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True, text=True, timeout=30)
        return ask.stdout.startswith("Killed")
