"""One queue, several clients: ours and the tutorial's own scripts
(tests/tutorial_client.py), on the quorum `task_queue` of today's tutorial and
on the seed's classic durable queue; poison tasks parked by the policy;
declarations that do not match, explained."""

import subprocess

import pika
import pytest

from brokers import ready_count, wait_until
from scripts import EXIT_CONFIG, Worker, queue_drained, run_new_task, tutorial_client

KINDS = {"quorum": ("--queue-type", "quorum"), "classic": ()}


@pytest.fixture(params=list(KINDS), ids=lambda kind: f"{kind}-queue")
def kind(request):
    return request.param


def their_new_task(url, queue, kind, task):
    sent = subprocess.run(tutorial_client("send", url, queue, kind, task), capture_output=True, text=True, timeout=30)
    assert sent.returncode == 0, sent.stderr
    return sent


def their_worker(url, queue, kind):
    worker = Worker(url, queue, argv=tutorial_client("work", url, queue, kind))
    worker.wait_ready()
    return worker


def test_our_worker_takes_tasks_from_their_new_task(broker, queue, start_worker, kind):
    their_new_task(broker.url, queue, kind, "Theirs first.")  # their declaration creates the queue
    ours = start_worker(queue, *KINDS[kind])
    their_new_task(broker.url, queue, kind, "Theirs second")
    ours.wait_for(" [x] Done", count=2)
    assert ours.received() == ["'Theirs first.'", "'Theirs second'"]
    assert ours.errors == []
    queue_drained(broker, queue)


def test_their_worker_takes_tasks_from_our_new_task(broker, queue, kind):
    theirs = their_worker(broker.url, queue, kind)  # their declaration creates the queue
    run_new_task(broker.url, queue, *KINDS[kind], "Ours first.")
    run_new_task(broker.url, queue, *KINDS[kind], "Ours second")
    theirs.wait_for(" [x] Done", count=2)
    assert theirs.received() == ["'Ours first.'", "'Ours second'"]
    queue_drained(broker, queue)


def test_a_queue_our_scripts_created_serves_theirs(broker, queue, start_worker, kind):
    ours = start_worker(queue, *KINDS[kind])  # our declaration creates the queue
    ours.kill()
    run_new_task(broker.url, queue, *KINDS[kind], "From ours.")
    their_new_task(broker.url, queue, kind, "From theirs")
    theirs = their_worker(broker.url, queue, kind)
    theirs.wait_for(" [x] Done", count=2)
    assert sorted(theirs.received()) == ["'From ours.'", "'From theirs'"]
    assert theirs.errors == []
    queue_drained(broker, queue)


def test_a_poison_task_is_parked_after_the_policy_delivery_limit(broker, queue, start_worker):
    """The policy (rabbitmq/definitions/policies.json) gives quorum queues a
    delivery limit of 5 and a dead-letter exchange: the task that kills every
    worker that takes it ends in QUEUE.dead after 6 deliveries, not dropped
    (RabbitMQ 4.x drops it after 20 when no dead-letter target is set)."""
    their_new_task(broker.url, queue, "quorum", "Poison.....")  # declared as the tutorial does
    dead_letters = f"{queue}.dead"
    notes = []
    while True:
        worker = start_worker(queue, *KINDS["quorum"])  # declares QUEUE.dead
        if ready_count(broker.url, dead_letters) == 1:
            break
        assert len(notes) < 6, f"still handed out after {len(notes)} deliveries"
        worker.wait_for(" [x] Received 'Poison.....'", prefix=True)
        notes.append(worker.received()[0])
        worker.kill()  # the task kills every worker that takes it
        wait_until(
            lambda: ready_count(broker.url, queue) + ready_count(broker.url, dead_letters) == 1,
            10, "the task to come back or be parked",
        )
    assert notes == ["'Poison.....'"] + [
        f"'Poison.....' (redelivered, delivery {n})" for n in range(2, 7)
    ]
    assert ready_count(broker.url, queue) == 0


def test_a_queue_with_its_own_limit_and_dead_letters_is_used_as_it_is(broker, queue, start_worker):
    """As earlier versions of these scripts declared quorum queues."""
    own = {
        "x-queue-type": "quorum",
        "x-delivery-limit": 3,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue}.parked",
    }
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        connection.channel().queue_declare(queue, durable=True, arguments=own)
        sent = run_new_task(broker.url, queue, *KINDS["quorum"], "Old queue.")
        worker = start_worker(queue, *KINDS["quorum"])
        worker.wait_for(" [x] Done")
        adopted = (
            f"queue {queue!r} has its own dead-letter exchange (''), dead-letter routing key "
            f"('{queue}.parked'), delivery limit (3); using it as it is"
        )
        assert sent.stderr.splitlines() == [f"new_task.py: {adopted}"]
        assert worker.errors == [f"worker.py: {adopted}"]
        queue_drained(broker, queue)
    finally:
        connection.channel().queue_delete(queue)
        connection.close()


@pytest.mark.parametrize(
    "existing, ours, explained",
    [
        ("classic", "quorum", "is a classic queue: give --queue-type classic (the default), or"),
        ("quorum", "classic", "is a quorum queue: give --queue-type quorum, or"),
    ],
)
def test_a_queue_of_the_other_type_is_explained_and_nothing_is_left_behind(
    broker, queue, existing, ours, explained
):
    their_new_task(broker.url, queue, existing, "Waiting task")
    queues_before = sorted(broker.rabbitmqctl("-s", "list_queues", "name").splitlines())
    refused = run_new_task(broker.url, queue, *KINDS[ours], "Refused", check=False)
    worker = Worker(broker.url, queue, *KINDS[ours])
    assert worker.wait_exit() == EXIT_CONFIG
    line = (
        f"error: queue {queue!r} {explained} use another --queue, or delete it with its "
        f"tasks: rabbitmqctl delete_queue {queue}"
    )
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"new_task.py: {line}"]
    assert worker.errors == [f"worker.py: {line}"]
    assert sorted(broker.rabbitmqctl("-s", "list_queues", "name").splitlines()) == queues_before  # no QUEUE.dead
    assert ready_count(broker.url, queue) == 1  # the queue and its task untouched
