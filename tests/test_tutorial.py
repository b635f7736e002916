"""Every claim of the tutorial (part 2, "Task Queue"), against a real broker."""

import pytest

from scripts import SCRIPT_ENV, WAITING, queue_drained, run_new_task, send_lines, tutorial_session, wait_for_done


def test_new_task_sends_its_arguments_as_one_persistent_task(broker, queue):
    result = run_new_task(broker.url, queue, "First", "message.")
    assert result.stdout == " [x] Sent 'First message.'\n"
    assert result.stderr == ""
    assert broker.queue_counts(queue) == (1, 0)


def test_new_task_without_arguments_sends_hello_world(broker, queue, start_worker):
    assert run_new_task(broker.url, queue).stdout == " [x] Sent 'Hello World!'\n"
    worker = start_worker(queue)
    worker.wait_for(" [x] Done")
    assert worker.lines == [WAITING, " [x] Received 'Hello World!'", " [x] Done"]


def test_both_scripts_default_to_the_durable_test_dur_queue_and_read_AMQP_URL(broker, start_worker):
    run_new_task(None, None, "Default.", env=dict(SCRIPT_ENV, AMQP_URL=broker.url))
    assert broker.queue_counts("test_dur") == (1, 0)
    worker = start_worker("test_dur")  # the fixture passes --queue; new_task.py did not
    worker.wait_for(" [x] Received 'Default.'")
    worker.wait_for(" [x] Done")
    queue_drained(broker, "test_dur")


@pytest.mark.parametrize("options", [[], ["--prefetch", "0"]], ids=["prefetch-1", "prefetch-0"])
def test_round_robin_dispatch(broker, queue, start_worker, options):
    tutorial_session(broker, queue, start_worker, *options)


def test_each_dot_is_one_second_of_work(broker, queue, start_worker):
    worker = start_worker(queue)
    run_new_task(broker.url, queue, "Hello!...")
    received = worker.wait_for(" [x] Received 'Hello!...'")[0]
    done = worker.wait_for(" [x] Done", timeout=10)[0]
    assert 2.9 <= done - received <= 3.5

    run_new_task(broker.url, queue, "No dots")
    received = worker.wait_for(" [x] Received 'No dots'")[0]
    done = worker.wait_for(" [x] Done", count=2)[1]
    assert done - received < 0.5


def test_a_task_whose_worker_dies_goes_to_another_worker(broker, queue, start_worker):
    doomed = start_worker(queue)
    run_new_task(broker.url, queue, "Slow task.....")
    doomed.wait_for(" [x] Received 'Slow task.....'")
    spare = start_worker(queue)  # after the task went out, so it cannot have it
    assert broker.queue_counts(queue) == (0, 1)  # out, and not acknowledged

    doomed.kill()
    spare.wait_for(" [x] Received 'Slow task.....' (redelivered)")
    spare.wait_for(" [x] Done", timeout=10)
    queue_drained(broker, queue)
    assert " [x] Done" not in doomed.lines


def test_with_no_ack_a_task_whose_worker_dies_is_lost(broker, queue, start_worker):
    """The tutorial's reason for acknowledgments, shown with --no-ack."""
    doomed = start_worker(queue, "--no-ack")
    run_new_task(broker.url, queue, "Lost task.....")
    doomed.wait_for(" [x] Received 'Lost task.....'")
    assert broker.queue_counts(queue) == (0, 0)  # the broker forgot it on delivery

    doomed.kill()
    spare = start_worker(queue)
    run_new_task(broker.url, queue, "Marker")
    spare.wait_for(" [x] Done")
    assert spare.received() == ["'Marker'"]  # the lost task never came back
    queue_drained(broker, queue)


def test_sent_tasks_survive_a_broker_crash(broker, queue, start_worker):
    tasks = ["Durable one.", "Durable two..", "Durable three"]
    run_new_task(broker.url, queue, tasks[0])  # declares the queue
    broker.flush_definitions()  # the queue is not brand new when the broker dies
    for task in tasks[1:]:
        run_new_task(broker.url, queue, task)
    broker.crash()  # SIGKILL right after the scripts said Sent: no clean shutdown
    broker.start()
    assert broker.queue_counts(queue) == (3, 0)

    worker = start_worker(queue)
    wait_for_done([worker], len(tasks), timeout=30)
    # A node that crashed cannot know which tasks it had handed out: it marks
    # every recovered task redelivered.
    assert worker.received() == [f"{t!r} (redelivered)" for t in tasks]
    queue_drained(broker, queue)


@pytest.mark.parametrize(
    "prefetch, shortest, longest",
    [("1", 8.5, 10.5), ("0", 11.5, 13.5)],
    ids=["prefetch-1-fair", "prefetch-0-round-robin"],
)
def test_fair_dispatch(broker, queue, start_worker, prefetch, shortest, longest):
    """Heavy and light tasks alternate. Round-robin hands every heavy task to one
    worker (12 s); prefetch 1 gives a task to whoever is free (9 s)."""
    workers = [start_worker(queue, "--prefetch", prefetch) for _ in range(2)]
    dots = [4, 1, 4, 1, 4, 1]
    # From one process, so that all are queued before the first is done (six
    # new_task.py runs take seconds under wine, and the makespan is the claim).
    send_lines(broker.url, queue, (), [f"Task{number}" + "." * n for number, n in enumerate(dots, 1)])
    wait_for_done(workers, len(dots), timeout=40)

    received = [t for w in workers for t, line in w.out if line.startswith(" [x] Received")]
    done = [t for w in workers for t, line in w.out if line == " [x] Done"]
    makespan = max(done) - min(received)
    assert shortest <= makespan <= longest, makespan
    heavy = [sum(task.count(".") == 4 for task in w.received()) for w in workers]
    if prefetch == "0":
        assert sorted(heavy) == [0, 3]  # one worker swamped, the other idle
    else:
        assert min(heavy) >= 1
    queue_drained(broker, queue)
