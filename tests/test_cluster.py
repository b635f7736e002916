"""Outgrowing one broker: quorum queues, several broker URLs, poison tasks,
and a three-node cluster that loses a node: private local nodes, or
docker-compose.yml's cluster profile where the tests run on Docker."""

import pytest

from brokers import own_cluster, ready_count, wait_until
from scripts import queue_drained, run_new_task

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

    def received():
        return {t.partition(" (")[0] for w in workers for t in w.received()}

    wait_until(lambda: set(sent) <= received(), 90, "every confirmed task to be done")
    # A task the dead node had handed out, and that was never acked, goes out
    # again: at once on RabbitMQ 3.x, while 4.3's quorum queues hold it for
    # consumer_disconnected_timeout (60 s by default) in case that node returns.
    wait_until(lambda: survivors[0].queue_counts(queue) == (0, 0), 60 + 30, "the queue to drain")
    on_leader = workers[cluster.nodes.index(leader)]
    assert on_leader.lines.count(" [*] Waiting for messages. To exit press CTRL+C") == 2  # failed over
    assert all(w.process.poll() is None for w in workers)

    leader.start()
    wait_until(lambda: leader.node in cluster.running_nodes(), 60, "the node to rejoin")


def test_a_poison_task_is_parked_after_the_delivery_limit(broker, queue, start_worker):
    options = (*QUORUM, "--delivery-limit", "2")
    dead_letters = f"{queue}.dead"
    run_new_task(broker.url, queue, *options, "Poison.....")

    notes = []
    while ready_count(broker.url, dead_letters) == 0:
        assert len(notes) <= 3, f"still handed out after {len(notes)} deliveries"
        worker = start_worker(queue, *options)
        worker.wait_for(" [x] Received 'Poison.....'", prefix=True)
        notes.append(worker.received()[0])
        worker.kill()  # the task kills every worker that takes it
        wait_until(
            lambda: ready_count(broker.url, queue) + ready_count(broker.url, dead_letters) == 1,
            10, "the task to come back or be parked",
        )
    assert notes == [
        "'Poison.....'",
        "'Poison.....' (redelivered, delivery 2)",
        "'Poison.....' (redelivered, delivery 3)",
    ]
    assert ready_count(broker.url, queue) == 0


def test_mixing_queue_types_on_one_name_is_explained(broker, queue, start_worker):
    run_new_task(broker.url, queue, "A classic task")
    refused = run_new_task(broker.url, queue, *QUORUM, "A quorum task", check=False)
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    # The broker names the first queue argument that differs (the queue type,
    # the dead-letter settings ...); the line says how to match them.
    assert f"queue {queue!r} already exists with another 'x-" in line
    assert "--queue-type and --delivery-limit it has" in line
    worker = start_worker(queue)  # the classic queue is untouched and works
    worker.wait_for(" [x] Received 'A classic task'")
    queue_drained(broker, queue)
