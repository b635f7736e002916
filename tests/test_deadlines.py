"""Nothing waits without a deadline: a broker that stops answering (its
process paused, every connection left open) is given up after --timeout,
and the scripts say what they waited for and what became of the tasks."""

import time

from brokers import wait_until
from scripts import Feeder, queue_drained, run_new_task

TIMEOUT = ("--timeout", "2")


def test_new_task_gives_up_on_a_broker_that_does_not_answer_its_handshake(broker, queue):
    with broker.frozen():
        started = time.monotonic()
        result = run_new_task(broker.url, queue, *TIMEOUT, "Never sent", check=False)
        took = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"new_task.py: error: the broker at {broker.host}:{broker.port} did not complete "
        "the connection's handshake within 2 s"
    ]
    assert took < 2 + 3  # Python's start, and pika's


def test_new_task_gives_up_on_a_confirm_and_says_from_which_line_nothing_is_known(broker, queue):
    feeder = Feeder(broker.url, queue, *TIMEOUT)
    feeder.write("confirmed")
    wait_until(lambda: feeder.sent == [" [x] Sent 'confirmed'"], 20, "the first task confirmed")
    with broker.frozen():
        asked = time.monotonic()
        feeder.write("never confirmed")
        code, errors = feeder.finish()
        took = time.monotonic() - asked
    assert code == 1
    assert errors == [
        f"new_task.py: error: the broker at {broker.host}:{broker.port} did not confirm the task on "
        "line 2 of the input within 2 s; 1 task sent; none from line 2 of the input on is known to be sent"
    ]
    assert 2 <= took < 2 + 2  # the deadline, and the close it gives up on
    assert feeder.sent == [" [x] Sent 'confirmed'"]


def test_a_worker_whose_broker_stops_answering_gives_it_up_and_comes_back(broker, queue, start_worker):
    worker = start_worker(queue, *TIMEOUT)
    with broker.frozen():
        # A free worker looks at its queue every --timeout: unanswered, the
        # connection counts as lost, and so does every handshake that follows.
        worker.wait_for(
            f"worker.py: the broker at {broker.host}:{broker.port} did not answer a look at queue "
            f"{queue!r} within 2 s; retrying in ", stream="err", prefix=True, timeout=10,
        )
        worker.wait_for(
            f"worker.py: the broker at {broker.host}:{broker.port} did not complete the connection's "
            "handshake within 2 s; retrying in ", stream="err", prefix=True, timeout=10,
        )
    worker.wait_ready(count=2, timeout=30)
    run_new_task(broker.url, queue, "After the freeze")
    worker.wait_for(" [x] Done")
    queue_drained(broker, queue)
