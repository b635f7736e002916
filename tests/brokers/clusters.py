"""Three nodes in one cluster, configured by cluster/rabbitmq.conf: private
local nodes (LocalCluster), or docker-compose.yml's cluster profile
(ComposeCluster)."""

import json
import os
from pathlib import Path

from .base import REPOSITORY, free_port, wait_until
from .compose import ComposeProject
from .local import LocalNode, boot_local_nodes

CLUSTER_CONFIG = REPOSITORY / "cluster" / "rabbitmq.conf"


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
