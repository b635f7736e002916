"""Clusters that iptables can partition: each node on a loopback address of
its own, and DROP rules between those addresses only, each deleted by its
own exact spec (no chain is ever flushed, 127.0.0.1 never named)."""

import atexit
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from .base import REPOSITORY, NoBroker, accepts_amqp, free_port, wait_until
from .clusters import Cluster, cluster_config
from .containers import ContainerBroker, rabbitmq_image
from .local import LocalNode, boot_local_nodes, distribution_erl_args

# The loopback addresses of the partitionable clusters' nodes: local RabbitMQ
# 3.x nodes, and 4.x containers on the host's network. The iptables rules that
# cut them apart name these addresses, and only these.
PARTITION_ADDRESSES = {
    "local": ("127.0.0.11", "127.0.0.12", "127.0.0.13"),
    "docker": ("127.0.0.21", "127.0.0.22", "127.0.0.23"),
}


def why_no_partitions():
    """Why no partitionable cluster can be had here, or None: its cuts are
    iptables rules, which need root. (The tests skip, saying so.)"""
    if os.geteuid() != 0:
        return "a partitionable cluster needs iptables, as root: this user is not root"
    if not shutil.which("iptables"):
        return "a partitionable cluster needs iptables, as root: no iptables here (apt-get install iptables)"
    return None


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
        if why_no_partitions():
            raise NoBroker(why_no_partitions())
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
