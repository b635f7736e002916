"""Stopping a worker: Ctrl+C at once, as the tutorial says (the task goes to
another worker); SIGTERM, the stop of docker, systemd and Kubernetes, warm
(the task in hand is finished and acked, no new one is taken)."""

import time

import pytest

from brokers import ready_count, wait_until
from scripts import STOP_SIGNAL, WAITING, queue_drained, run_new_task

STOP_NOW = f"({STOP_SIGNAL} again or Ctrl+C: stop now, and the task goes back to the queue)"


def no_traceback(lines):
    return not any("Traceback" in line for line in lines)


def test_ctrl_c_stops_a_worker_at_once_and_its_task_goes_to_another(broker, queue, start_worker):
    worker = start_worker(queue)
    run_new_task(broker.url, queue, "Interrupted.....")
    worker.wait_for(" [x] Received 'Interrupted.....'")
    spare = start_worker(queue)

    asked = time.monotonic()
    worker.interrupt()
    assert worker.wait_exit(timeout=5) == 130
    assert time.monotonic() - asked < 1.0
    assert worker.errors == ["worker.py: interrupted; its unfinished task goes back to the queue"]
    assert " [x] Done" not in worker.lines

    spare.wait_for(" [x] Received 'Interrupted.....' (redelivered)", timeout=10)
    spare.wait_for(" [x] Done", timeout=10)
    queue_drained(broker, queue)


def test_sigterm_finishes_the_task_in_hand_acks_it_and_takes_no_other(broker, queue, start_worker):
    """A 6 s task under a 2 s heartbeat, SIGTERM 3 s into it: the connection
    must go on answering heartbeats for the ack to count."""
    worker = start_worker(queue, url=broker.url + "?heartbeat=2")
    run_new_task(broker.url, queue, "Finish me......")
    received = worker.wait_for(" [x] Received 'Finish me......'")[0]
    run_new_task(broker.url, queue, "Not for a stopping worker")
    wait_until(lambda: time.monotonic() > received + 3, 10, "3 s of work")

    worker.terminate()
    worker.wait_for(f"worker.py: stopping ({STOP_SIGNAL})", stream="err", prefix=True, timeout=5)
    assert worker.wait_exit(timeout=15) == 0
    assert worker.lines == [WAITING, " [x] Received 'Finish me......'", " [x] Done"]
    assert worker.errors == [
        f"worker.py: stopping ({STOP_SIGNAL}): taking no new task, finishing the one in hand {STOP_NOW}",
        f"worker.py: stopped ({STOP_SIGNAL}) once its task was done and acknowledged",
    ]
    # Acked once: only the task it never took is left, and nobody does the first again.
    spare = start_worker(queue)
    spare.wait_for(" [x] Done")
    assert spare.received() == ["'Not for a stopping worker'"]
    queue_drained(broker, queue)


def test_sigterm_with_prefetch_3_finishes_the_task_in_hand_and_hands_back_the_unstarted_at_once(
    broker, queue, start_worker
):
    """With --prefetch 3 a worker holds two tasks it has not started: the warm
    stop hands them back at once, for another worker, while it finishes the
    one in hand. None is lost, none is done twice."""
    tasks = ["First of three......", "Second of three.", "Third of three."]
    for task in tasks:
        run_new_task(broker.url, queue, task)
    worker = start_worker(queue, "--prefetch", "3")
    worker.wait_for(" [x] Received 'First of three......'")
    # None left in the queue: its one consumer holds all three (ready_count is
    # the queue's own count, and quick: the first task lasts only 6 s).
    wait_until(lambda: ready_count(broker.url, queue) == 0, 5, "the worker to hold all three tasks")

    worker.terminate()
    worker.wait_for(f"worker.py: stopping ({STOP_SIGNAL})", stream="err", prefix=True, timeout=5)
    wait_until(lambda: ready_count(broker.url, queue) == 2, 5, "the two unstarted tasks back in the queue")
    handed_back = time.monotonic()
    assert worker.wait_exit(timeout=15) == 0
    finished = [t for t, line in worker.out if line == " [x] Done"]
    assert handed_back < finished[0]  # at the stop, not once the first task was done
    assert worker.lines == [WAITING, " [x] Received 'First of three......'", " [x] Done"]
    assert worker.errors == [
        f"worker.py: stopping ({STOP_SIGNAL}): taking no new task, finishing the one in hand {STOP_NOW}",
        f"worker.py: stopped ({STOP_SIGNAL}) once its task was done and acknowledged",
    ]

    # Another worker gets the two; the first, acked, is not done again.
    spare = start_worker(queue)
    spare.wait_for(" [x] Done", count=2, timeout=10)
    assert sorted(spare.received()) == ["'Second of three.' (redelivered)", "'Third of three.' (redelivered)"]
    done = [task.removesuffix(" (redelivered)") for task in worker.done() + spare.done()]
    assert sorted(done) == sorted(repr(task) for task in tasks)  # each once
    queue_drained(broker, queue)


@pytest.mark.parametrize(
    "second, signal_name, code",
    [("terminate", f"stopped ({STOP_SIGNAL})", 0), ("interrupt", "interrupted", 130)],
    ids=["stop-twice", "stop-then-ctrl-c"],
)
def test_a_second_signal_during_the_warm_stop_stops_at_once(broker, queue, start_worker, second, signal_name, code):
    worker = start_worker(queue)
    run_new_task(broker.url, queue, "Handed back.....")
    worker.wait_for(" [x] Received 'Handed back.....'")
    worker.terminate()
    worker.wait_for(f"worker.py: stopping ({STOP_SIGNAL})", stream="err", prefix=True, timeout=5)

    asked = time.monotonic()
    getattr(worker, second)()
    assert worker.wait_exit(timeout=5) == code
    assert time.monotonic() - asked < 1.0
    assert worker.errors[-1] == f"worker.py: {signal_name}; its unfinished task goes back to the queue"
    assert " [x] Done" not in worker.lines
    spare = start_worker(queue)
    spare.wait_for(" [x] Received 'Handed back.....' (redelivered)")


def test_sigterm_with_no_task_in_hand_stops_at_once(broker, queue, start_worker):
    worker = start_worker(queue)
    asked = time.monotonic()
    worker.terminate()
    assert worker.wait_exit(timeout=5) == 0
    assert time.monotonic() - asked < 1.0
    assert worker.errors == [f"worker.py: stopped ({STOP_SIGNAL})"]


def test_a_connection_lost_during_the_warm_stop_ends_it_without_a_reconnect(broker, queue, start_worker):
    worker = start_worker(queue)
    broker.flush_definitions()  # the queue is not brand new when the broker dies
    run_new_task(broker.url, queue, "Interrupted by the broker.....")
    worker.wait_for(" [x] Received 'Interrupted by the broker.....'")
    worker.terminate()
    worker.wait_for(f"worker.py: stopping ({STOP_SIGNAL})", stream="err", prefix=True, timeout=5)

    broker.crash()
    assert worker.wait_exit(timeout=10) == 1
    last = worker.errors[-1]
    assert last.startswith("worker.py: lost the connection to the broker at "), worker.errors
    assert last.endswith(f"; stopping as asked ({STOP_SIGNAL}); its unfinished task goes back to the queue"), last
    assert no_traceback(worker.errors)
    broker.start()
    spare = start_worker(queue)
    spare.wait_for(" [x] Received 'Interrupted by the broker.....' (redelivered)")
