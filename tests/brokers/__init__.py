"""Brokers the test suite owns, since its tests crash and restart them.

TEST_BROKER chooses their kind: `docker` (the image RABBITMQ_IMAGE, default
the official rabbitmq:4-management), `local` (the locally installed
rabbitmq-server), or `auto`, the default: Docker where an engine answers,
else local. The tests import everything from here; a module a concern:

- kind: which kind (broker_kind, why_local), and own_broker, own_cluster,
  own_tls_broker, which make one of that kind.
- base: the Broker base class, free_port, wait_until, accepts_amqp.
- counts: a queue's counts (ready_count: the queue's own, exact; rabbitmqctl's
  list_queues for the unacknowledged: Broker.queue_counts), connection_names.
- local: LocalNode, a private node of the locally installed rabbitmq-server,
  on its own node name, ports, epmd, data directory and Erlang cookie; the
  system's own broker (5672) and epmd (4369) are never touched.
- containers: the image, and DockerBroker, testcontainers' RabbitMQ container.
- compose: ComposeProject, the project's docker-compose.yml as users run it.
- clusters: LocalCluster, ComposeCluster: three nodes in one cluster, of
  private local nodes, or docker-compose.yml's cluster profile (ComposeNode).
- partitions: LocalPartitionableCluster, ContainerPartitionableCluster: three
  nodes, each on a loopback address of its own, that iptables can cut off
  from each other while clients still reach every node
  (own_cluster(..., partitionable=True)).
- tls: TlsNode, TlsContainer: a LocalNode or a DockerBroker that also speaks
  amqps:// on a port of its own (own_tls_broker).

Every broker, and every node of a cluster, offers the same few verbs: host,
port, url, start, crash (SIGKILL), stop, restart (clean), running,
frozen (paused: it answers nothing), queue_counts, flush_definitions, remove.
A partitionable cluster adds cut_off(node), heal() and wait_healed().
"""

from .base import LOOPBACK, POLICIES, REPOSITORY, Broker, NoBroker, accepts_amqp, free_port, wait_until  # noqa: F401
from .clusters import CLUSTER_CONFIG, Cluster, ComposeCluster, LocalCluster, cluster_config  # noqa: F401
from .compose import COMPOSE_FILE, ComposeNode, ComposeProject, compose_command, compose_version  # noqa: F401
from .containers import AMQP_PORT, OFFICIAL_IMAGE, ContainerBroker, DockerBroker, rabbitmq_image, why_no_image, why_not_docker  # noqa: F401
from .counts import connection_names, consumer_count, parse_queue_counts, ready_count  # noqa: F401
from .kind import asked_broker_kind, broker_kind, own_broker, own_cluster, own_tls_broker, why_local  # noqa: F401
from .local import RABBITMQ_BIN, LocalNode, boot_local_nodes, distribution_erl_args, local_rabbitmq_major  # noqa: F401
from .partitions import (  # noqa: F401
    PARTITION_ADDRESSES,
    ContainerPartitionableCluster,
    HostNetworkNode,
    LocalPartitionableCluster,
    PartitionableCluster,
    delete_drop_rule,
    drop_rule,
    iptables,
    unless_cli_fails,
    why_no_partitions,
)
from .tls import SpeaksTls, TlsContainer, TlsNode, tls_config  # noqa: F401
