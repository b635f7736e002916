"""Outgrowing one broker: quorum queues, several broker URLs, and a
three-node cluster that loses a node: private local nodes, or
docker-compose.yml's cluster profile where the tests run on Docker."""

import pytest

from brokers import own_cluster, wait_until
from scripts import run_new_task

QUORUM = ("--queue-type", "quorum")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = own_cluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.remove()


def test_cluster_loses_the_leader_of_its_queue_and_no_confirmed_task(cluster, queue, start_worker):
    # One worker per node, each listing all three nodes, its own first.
    workers = [start_worker(queue, *QUORUM, url=cluster.urls(first)) for first in range(3)]
    leader = cluster.leader(queue)
    survivors = [node for node in cluster.nodes if node is not leader]

    sent = []
    for n in range(24):
        if n == 6:
            leader.crash()  # while tasks flow, some of them in the workers' hands
        task = f"cluster task {n}."
        result = run_new_task(cluster.urls(n % 3), queue, *QUORUM, task, check=False)
        if result.returncode == 0:
            sent.append(repr(task))
        else:  # a task refused is not a task lost, so long as we were told
            assert result.stderr.startswith("new_task.py: error: "), result.stderr
    assert len(sent) >= 20  # losing one node of three leaves the cluster working

    def done():
        return {t.partition(" (")[0] for w in workers for t in w.done()}

    wait_until(lambda: set(sent) <= done(), 90, "every confirmed task to be done")
    # A task the dead node had handed out, and that was never acked, goes out
    # again: at once on RabbitMQ 3.x, while 4.3's quorum queues hold it for
    # consumer_disconnected_timeout (60 s by default) in case that node returns.
    wait_until(lambda: survivors[0].queue_counts(queue) == (0, 0), 60 + 30, "the queue to drain")
    on_leader = workers[cluster.nodes.index(leader)]
    assert on_leader.lines.count(" [*] Waiting for messages. To exit press CTRL+C") == 2  # failed over
    assert all(w.process.poll() is None for w in workers)

    leader.start()
    wait_until(lambda: leader.node in cluster.running_nodes(), 60, "the node to rejoin")
