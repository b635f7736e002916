"""docker-compose.yml as a user runs it (with the image RABBITMQ_IMAGE): the
broker turns healthy, the tutorial runs on it, it keeps tasks across a
restart and a new container. Its cluster profile is the cluster that
test_cluster.py's failover test runs on Docker."""

import pytest

from brokers import LOOPBACK, ComposeProject, broker_kind, why_local
from scripts import WAITING, queue_drained, run_new_task, tutorial_session


@pytest.fixture(autouse=True, scope="module")
def needs_docker():
    if broker_kind() != "docker":
        pytest.skip(f"needs Docker: {why_local()}")


@pytest.fixture
def compose():
    """The tutorial's broker, up and healthy: docker compose up -d."""
    project = ComposeProject()
    try:
        project.run("up", "-d")
        project.wait_healthy("rabbitmq")
        yield project
    finally:
        project.down()


def test_up_turns_healthy_and_the_tutorial_session_runs(compose, queue, start_worker):
    broker = compose.node("rabbitmq", "RABBITMQ_PORT")
    run_new_task(broker.url, f"{queue}-first", "Healthy means ready")  # at once, no retry
    bindings = compose.container("rabbitmq").attrs["HostConfig"]["PortBindings"]
    assert {b["HostIp"] for ports in bindings.values() for b in ports} == {LOOPBACK}  # the default
    assert "work-queues-poison-tasks" in broker.rabbitmqctl("-s", "list_policies")  # loaded at start

    tutorial_session(broker, queue, start_worker)


def test_a_worker_rides_through_a_restart_and_a_waiting_task_is_done_after_it(compose, queue, start_worker):
    broker = compose.node("rabbitmq", "RABBITMQ_PORT")
    worker = start_worker(queue, url=broker.url)
    run_new_task(broker.url, queue, "Busy.....")
    worker.wait_for(" [x] Received 'Busy.....'")
    run_new_task(broker.url, queue, "Sent before the restart")  # waits: prefetch 1

    compose.run("restart")
    worker.wait_ready(count=2, timeout=90)
    worker.wait_for(" [x] Received 'Sent before the restart'", timeout=30)
    worker.wait_for(" [x] Done", count=3, timeout=30)
    # The busy task's ack could not reach the broker: it is done again.
    assert worker.received() == ["'Busy.....'", "'Busy.....' (redelivered)", "'Sent before the restart'"]
    queue_drained(broker, queue)


def test_tasks_outlive_the_container_in_the_named_volume(compose, queue, start_worker):
    broker = compose.node("rabbitmq", "RABBITMQ_PORT")
    run_new_task(broker.url, queue, "Kept in the volume")
    compose.run("down")  # removes the container, keeps the named volume
    compose.run("up", "-d")
    compose.wait_healthy("rabbitmq")

    broker = compose.node("rabbitmq", "RABBITMQ_PORT")  # a new container
    worker = start_worker(queue, url=broker.url)
    worker.wait_for(" [x] Done")
    assert worker.lines[:2] == [WAITING, " [x] Received 'Kept in the volume'"]
    queue_drained(broker, queue)
