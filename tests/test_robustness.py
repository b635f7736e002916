"""What the tutorial's code does not survive and ours must: long tasks,
broker crashes and restarts, Ctrl+C and SIGTERM, bad input."""

import random
import signal
import socket
import subprocess
import threading
import time

import pika
import pytest

from brokers import free_port
from scripts import (
    EXIT_CONFIG,
    SCRIPT_ENV,
    WAITING,
    Worker,
    command,
    queue_drained,
    run_new_task,
    start_new_task,
)


def no_traceback(text):
    return "Traceback" not in text


def test_a_task_longer_than_the_heartbeat_is_done_once(broker, queue, start_worker):
    """The tutorial sleeps in pika's callback, so nothing answers heartbeats:
    with heartbeat=2 an 8-second task gets its connection closed and runs twice."""
    worker = start_worker(queue, url=broker.url + "?heartbeat=2")
    run_new_task(broker.url, queue, "Long task........")
    run_new_task(broker.url, queue, "Next task")
    worker.wait_for(" [x] Done", count=2, timeout=30)
    assert worker.lines == [
        WAITING,
        " [x] Received 'Long task........'",
        " [x] Done",
        " [x] Received 'Next task'",
        " [x] Done",
    ]
    assert worker.errors == []  # no lost connection, no reconnect
    queue_drained(broker, queue)


def test_worker_survives_a_broker_crash_and_its_task_in_flight_is_redelivered(
    broker, queue, start_worker
):
    worker = start_worker(queue)
    broker.flush_definitions()  # the queue is not brand new when the broker dies
    run_new_task(broker.url, queue, "In flight...")
    worker.wait_for(" [x] Received 'In flight...'")
    broker.crash()
    # The work finishes while the broker is down: its ack must not be sent.
    worker.wait_for("worker.py: the task's channel closed before its ack", stream="err", prefix=True)
    worker.wait_for("worker.py: cannot reach the broker at", stream="err", prefix=True)
    broker.start()

    worker.wait_for(" [x] Received 'In flight...' (redelivered)", timeout=30)
    worker.wait_for(" [x] Done", count=2, timeout=10)
    assert worker.lines.count(WAITING) == 2  # consuming again on the new connection
    run_new_task(broker.url, queue, "After the crash")
    worker.wait_for(" [x] Received 'After the crash'")
    queue_drained(broker, queue)
    assert all(no_traceback(line) for line in worker.errors)


def test_worker_survives_a_clean_broker_restart(broker, queue, start_worker):
    """A clean stop closes connections with CONNECTION_FORCED, where pika's own
    example recovery loop gives up."""
    worker = start_worker(queue)
    broker.restart()
    worker.wait_ready(count=2, timeout=30)
    assert any("CONNECTION_FORCED" in line for line in worker.errors), worker.errors
    run_new_task(broker.url, queue, "After the restart.")
    worker.wait_for(" [x] Done", timeout=10)
    assert worker.received() == ["'After the restart.'"]
    queue_drained(broker, queue)


def test_worker_started_while_the_broker_is_down_waits_for_it(broker, queue, start_worker):
    broker.stop()
    worker = start_worker(queue, ready=False)
    retry_lines = worker.wait_for("worker.py: cannot reach the broker at", 2, stream="err", prefix=True)
    assert worker.process.poll() is None
    line = worker.errors[0]
    assert f"{broker.host}:{broker.port}" in line and "retrying in" in line
    assert retry_lines[1] - retry_lines[0] >= 0.3  # it backs off, it does not spin

    broker.start()
    worker.wait_ready(timeout=30)
    run_new_task(broker.url, queue, "Finally")
    worker.wait_for(" [x] Done")
    queue_drained(broker, queue)


class PortForwarder:
    """What Docker's port forwarder does for a broker container: while the
    container is down it still accepts connections and closes them at once,
    so a client's AMQP handshake is cut short; while it is up, it forwards."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.up = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if not self.up:
                client.close()
                continue
            broker = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, broker), (broker, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        with source, sink:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass  # the other direction closed both sockets


def test_worker_retries_a_handshake_cut_short_as_by_a_container_restarting(broker, queue, start_worker):
    forwarder = PortForwarder(broker.port)
    url = broker.url.replace(f":{broker.port}/", f":{forwarder.port}/")
    worker = start_worker(queue, url=url, ready=False)
    worker.wait_for(
        f"worker.py: the connection to {pika.URLParameters(url).host}:{forwarder.port} closed during the AMQP handshake "
        "(is the broker starting, and is this its AMQP port?); retrying in",
        count=2, stream="err", prefix=True,
    )
    assert worker.process.poll() is None  # waiting, not given up
    forwarder.up = True  # the container is back
    worker.wait_ready(timeout=30)
    run_new_task(broker.url, queue, "Through the forwarder")
    worker.wait_for(" [x] Done")


def test_new_task_interrupted_exits_without_a_traceback(queue):
    # A listener that never answers the AMQP handshake keeps new_task.py waiting.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"amqp://guest:guest@127.0.0.1:{silent.getsockname()[1]}/%2F"
        process = start_new_task(url, queue, "Never sent")
        connection, _ = silent.accept()  # new_task.py is inside pika's connect now
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=5)
        connection.close()
    assert process.returncode == 130
    assert err.splitlines() == ["new_task.py: interrupted; the task was not sent"]


def test_new_task_fails_fast_naming_an_unreachable_broker(queue):
    port = free_port()
    started = time.monotonic()
    result = run_new_task(f"amqp://guest:guest@127.0.0.1:{port}/%2F", queue, "x", check=False)
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"new_task.py: error: cannot reach the broker at 127.0.0.1:{port}: Connection refused"
    ]


def with_userinfo(url, userinfo):
    return url.replace("guest:guest", userinfo)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda url: with_userinfo(url, "guest:wrong"), "refused the login"),
        (lambda url: url.replace("%2F", "no-such-vhost"), "refused access to virtual host 'no-such-vhost'"),
    ],
    ids=["wrong-password", "unknown-vhost"],
)
def test_both_scripts_exit_on_errors_retrying_cannot_mend(broker, queue, change, message):
    url = change(broker.url)
    sent = run_new_task(url, queue, "x", check=False)
    worker = Worker(url, queue)
    assert worker.wait_exit(timeout=10) == EXIT_CONFIG  # a service manager must not restart it
    for stderr in (sent.stderr.splitlines(), worker.errors):
        assert len(stderr) == 1 and message in stderr[0], stderr
    assert sent.returncode == 1


def test_a_queue_declared_with_other_settings_is_explained(broker, queue):
    """The tutorial's own trap: `test` exists non-durable, and we declare it durable."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    connection.channel().queue_declare(queue, durable=False)
    try:
        sent = run_new_task(broker.url, queue, "x", check=False)
        worker = Worker(broker.url, queue)
        assert worker.wait_exit(timeout=10) == EXIT_CONFIG
        explained = (
            f"error: queue {queue!r} exists but is not durable, so its tasks would not survive "
            f"a broker restart; use another --queue, or delete it with its tasks: "
            f"rabbitmqctl delete_queue {queue}"
        )
        assert sent.stderr.splitlines() == [f"new_task.py: {explained}"]
        assert worker.errors == [f"worker.py: {explained}"]
        assert sent.returncode == 1
        assert broker.queue_counts(queue) == (0, 0)  # nothing went into the wrong queue
    finally:
        connection.channel().queue_delete(queue)
        connection.close()


@pytest.mark.parametrize(
    "script, arguments, complaint",
    [
        ("new_task.py", ["--url", "http://localhost/"], "is not an amqp:// or amqps:// URL"),
        ("new_task.py", ["--url", "amqp://localhost:notaport/"], "Port could not be cast"),
        ("new_task.py", ["--url", "amqp://localhost/?heartbeat=soon"], "Invalid heartbeat"),
        ("worker.py", ["--prefetch", "-1"], "argument --prefetch: -1 is not between 0 and 65535"),
        ("worker.py", ["--prefetch", "65536"], "argument --prefetch: 65536 is not between 0 and 65535"),
        ("worker.py", ["--prefetch", "one"], "argument --prefetch: 'one' is not an integer"),
        ("worker.py", ["--no-such-option"], "unrecognized arguments"),
        ("worker.py", ["--url", "amqp://[::1/"], "argument --url: 'amqp://[::1/': Invalid IPv6 URL"),
        ("new_task.py", ["--url", "amqp://guest:se/cret@localhost/"],
         "argument --url: 'amqp://***@localhost/': its user name and password cannot be told from its host"),
        # NAME.dead (256 bytes) for a quorum queue; --url a closed port, lest a mistake reach a broker
        ("new_task.py", ["--url", f"amqp://127.0.0.1:{free_port()}/", "--queue-type", "quorum", "--queue", "q" * 251],
         "has too long a name for its queue"),
    ],
)
def test_malformed_options_are_usage_errors(script, arguments, complaint):
    result = subprocess.run(
        command(script, None, None, *arguments),
        env=SCRIPT_ENV, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()  # argparse's: the usage (maybe wrapped), then the error
    assert lines[0].startswith(f"usage: {script}")
    assert lines[-1].startswith(f"{script}: error: ") and complaint in lines[-1]
    assert no_traceback(result.stderr)


def test_a_task_that_is_not_utf8_is_shown_as_bytes_and_done(broker, queue, start_worker):
    worker = start_worker(queue)
    sent = run_new_task(broker.url, queue, b"caf\xe9 \xff..")  # Latin-1, as an old shell might send
    assert sent.stdout == " [x] Sent b'caf\\xe9 \\xff..'\n"  # shown as the worker shows it
    received = worker.wait_for(" [x] Received b'caf\\xe9 \\xff..'")[0]
    done = worker.wait_for(" [x] Done")[0]
    assert 1.9 <= done - received <= 2.5  # the dots still count
    run_new_task(broker.url, queue, "Next")
    worker.wait_for(" [x] Received 'Next'")
    queue_drained(broker, queue)
    assert worker.errors == []


def test_soak_workers_killed_at_random_lose_no_task(broker, queue, start_worker, report):
    """1,000 tasks (one in twenty takes a second), three workers, and every
    second or so a random worker is SIGKILLed and a new one started."""
    tasks = [f"soak-{n:04d}" + ("." if n % 20 == 0 else "") for n in range(1000)]
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    for task in tasks:
        channel.basic_publish("", queue, task.encode(), pika.BasicProperties(delivery_mode=2))
    connection.close()

    workers = [start_worker(queue) for _ in range(3)]
    everyone = list(workers)
    rng = random.Random(2)
    kills = 0
    deadline = time.monotonic() + 240
    while broker.queue_counts(queue) != (0, 0):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(1)
        victim = workers.pop(rng.randrange(len(workers)))
        victim.kill()
        kills += 1
        workers.append(start_worker(queue))
        everyone.append(workers[-1])

    # Done, not just received: a worker killed mid-task printed Received only.
    done = {line.removesuffix(" (redelivered)") for w in everyone for line in w.done()}
    assert done == {repr(task) for task in tasks}
    received = [line for w in everyone for line in w.received()]
    redeliveries = len(received) - len(tasks)
    report(f"soak: {len(tasks)} tasks, {kills} workers killed, {redeliveries} redeliveries")
