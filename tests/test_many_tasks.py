"""new_task.py - : many tasks from standard input, one a line, over one
connection, each reported sent once the broker has confirmed it."""

import pika

from brokers import ready_count, wait_until
from scripts import Feeder, queue_drained, run_new_task, send_from_input


def test_tasks_from_standard_input_one_a_line(broker, queue, start_worker):
    result = send_from_input(broker.url, queue, "First message.\n\nSecond message..\r\nThird\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        " [x] Sent 'First message.'",
        " [x] Sent 'Second message..'",
        " [x] Sent 'Third'",
    ]
    assert result.stderr == ""
    worker = start_worker(queue)
    worker.wait_for(" [x] Done", count=3, timeout=20)
    assert worker.received() == ["'First message.'", "'Second message..'", "'Third'"]
    queue_drained(broker, queue)


def test_a_thousand_tasks_are_each_confirmed_in_order(broker, queue):
    tasks = [f"task {n}" for n in range(1, 1001)]
    result = send_from_input(broker.url, queue, "".join(f"{t}\n" for t in tasks))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f" [x] Sent {t!r}" for t in tasks]
    assert ready_count(broker.url, queue) == 1000


def test_empty_input_sends_nothing(broker, queue):
    result = send_from_input(broker.url, queue, "")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_broker_crash_midway_loses_no_task_reported_sent(broker, queue):
    run_new_task(broker.url, queue, "Declared")  # the queue exists before the crash
    broker.flush_definitions()
    feeder = Feeder(broker.url, queue)
    feeder.write(*(f"before {n}" for n in range(1, 101)))
    wait_until(lambda: len(feeder.sent) == 100, 20, "100 tasks confirmed")
    broker.crash()
    feeder.write(*(f"after {n}" for n in range(1, 101)))
    code, errors = feeder.finish()
    broker.start()

    assert code == 1
    (line,) = errors
    assert line.startswith("new_task.py: error: lost the connection to the broker at "), line
    assert line.endswith("; 100 tasks sent; none from line 101 of the input on is known to be sent"), line
    assert feeder.sent == [f" [x] Sent 'before {n}'" for n in range(1, 101)]
    # Every task reported sent is there (and the one sent as the queue's first).
    assert ready_count(broker.url, queue) == 101


def test_a_task_the_broker_refuses_stops_the_rest(broker, queue):
    """A queue that is full (a policy: at most 2 tasks, refuse the rest)."""
    broker.rabbitmqctl(
        "set_policy", "--apply-to", "queues", "--priority", "10", f"{queue}-full", f"^{queue}$",
        '{"max-length": 2, "overflow": "reject-publish"}',
    )
    try:
        result = send_from_input(broker.url, queue, "one\ntwo\nthree\nfour\n")
    finally:
        broker.rabbitmqctl("clear_policy", f"{queue}-full")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [" [x] Sent 'one'", " [x] Sent 'two'"]
    assert result.stderr.splitlines() == [
        "new_task.py: error: the broker refused a task (nack); it was not queued; "
        "2 tasks sent; none from line 3 of the input on is known to be sent"
    ]
    assert ready_count(broker.url, queue) == 2


def test_a_task_no_queue_takes_is_reported_returned(broker, queue):
    feeder = Feeder(broker.url, queue)
    feeder.write("kept")
    wait_until(lambda: feeder.sent == [" [x] Sent 'kept'"], 20, "the first task confirmed")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    connection.channel().queue_delete(queue)
    connection.close()
    feeder.write("returned")
    code, errors = feeder.finish()
    assert code == 1
    assert errors == [
        f"new_task.py: error: the broker returned a task: no queue {queue!r} took it; "
        "1 task sent; none from line 2 of the input on is known to be sent"
    ]
    assert feeder.sent == [" [x] Sent 'kept'"]
