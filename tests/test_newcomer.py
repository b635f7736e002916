"""What a newcomer runs into: output that goes away or cannot show a task,
reconnects that must not pile up connections, edge inputs."""

import re
import subprocess
import sys

import pika
import pytest

from brokers import connection_names, wait_until
from scripts import ROOT, SCRIPT_ENV, WAITING, command, run_new_task


def no_traceback(text):
    return "Traceback" not in text


def connections_of(broker, worker):
    return connection_names(broker).count(f"worker.py (pid {worker.process.pid})")


def test_a_worker_whose_output_is_gone_leaves_and_its_task_goes_back(broker, queue):
    """./worker.py | head -n 3: once head has its three lines, the worker can
    no longer show a task, so it must not hold one."""
    for task in ("one.", "two.", "three."):
        run_new_task(broker.url, queue, task)
    pipeline = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" | head -n 3', "bash",
         *command("worker.py", broker.url, queue)],
        env=SCRIPT_ENV, capture_output=True, text=True, timeout=30,
    )
    assert pipeline.stdout.splitlines() == [WAITING, " [x] Received 'one.'", " [x] Done"]
    assert pipeline.returncode == 1  # the worker's, through pipefail
    assert pipeline.stderr.splitlines() == [
        "worker.py: standard output is gone (Broken pipe): stopping; "
        "its unfinished task goes back to the queue"
    ]
    # 'two.' was taken (shown or not, done or not, never acked) and is back.
    assert broker.queue_counts(queue) == (2, 0)


@pytest.mark.parametrize(
    "encoding_env",
    [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}],
    ids=["PYTHONIOENCODING=ascii", "C-locale"],
)
def test_tasks_the_output_cannot_encode_are_shown_escaped(broker, queue, start_worker, encoding_env):
    env = dict(SCRIPT_ENV, **encoding_env)
    sent = run_new_task(broker.url, queue, "héllo.", env=env)
    assert sent.stdout == " [x] Sent 'h\\xe9llo.'\n"
    assert sent.stderr == ""
    worker = start_worker(queue, env=env, ready=False)
    worker.wait_for(" [x] Received 'h\\xe9llo.'")
    worker.wait_for(" [x] Done")
    run_new_task(broker.url, queue, "naïve", env=env)  # no dots: done in pika's callback
    worker.wait_for(" [x] Received 'na\\xefve'")
    worker.wait_for(" [x] Done", count=2)
    assert worker.process.poll() is None
    assert worker.errors == []
    wait_until(lambda: broker.queue_counts(queue) == (0, 0), 10, "both tasks acked")


def test_a_worker_keeps_one_connection_across_reconnects(broker, queue, start_worker):
    """Consumer cancelled (queue deleted) and connection closed by the broker:
    after each, the broker lists one connection for the worker, not more."""
    worker = start_worker(queue)
    assert connections_of(broker, worker) == 1
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        for waiting in (2, 3, 4):
            connection.channel().queue_delete(queue)
            worker.wait_ready(count=waiting)
            assert connections_of(broker, worker) == 1
    finally:
        connection.close()
    assert worker.errors[-1].startswith(
        f"worker.py: the broker cancelled our consumer: queue {queue!r} was deleted; retrying in"
    )

    name = f"worker.py (pid {worker.process.pid})"
    listing = broker.rabbitmqctl("-s", "list_connections", "pid", "client_properties")
    pid = next(line.split("\t")[0] for line in listing.splitlines() if name in line)
    broker.rabbitmqctl("close_connection", pid, "closed by the test")
    worker.wait_ready(count=5)
    assert connections_of(broker, worker) == 1
    assert any("closed by the test" in line for line in worker.errors), worker.errors
    run_new_task(broker.url, queue, "Still working")
    worker.wait_for(" [x] Done")


@pytest.mark.parametrize("script", ["new_task.py", "worker.py"])
def test_an_empty_queue_name_is_a_usage_error(broker, script):
    """As from --queue "$QUEUE" with QUEUE unset: the broker would make up a
    name and leave that queue behind."""
    before = sorted(broker.rabbitmqctl("-s", "list_queues", "name").splitlines())
    result = subprocess.run(
        command(script, broker.url, None, "--queue", "", *(["x"] if script == "new_task.py" else [])),
        env=SCRIPT_ENV, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"{script}: error: argument --queue: a queue needs a name (is a shell variable unset?)"
    )
    assert sorted(broker.rabbitmqctl("-s", "list_queues", "name").splitlines()) == before


@pytest.mark.parametrize("script", ["new_task.py", "worker.py"])
def test_without_pika_the_scripts_say_how_to_install_it(script):
    # python -S: no site-packages, as with a python outside the virtual environment
    result = subprocess.run(
        [sys.executable, "-S", ROOT / script], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{script}: error: pika is not installed for {sys.executable}: activate the virtual "
        "environment (. .venv/bin/activate) or pip install -r requirements.txt"
    ]


def test_a_bad_AMQP_URL_is_named_as_such_and_its_password_hidden():
    result = subprocess.run(
        command("new_task.py", None, None, "x"),
        env=dict(SCRIPT_ENV, AMQP_URL="amqp://guest:s3cret@localhost:notaport/"),
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "new_task.py: error: AMQP_URL: 'amqp://guest:***@localhost:notaport/': "
        "Port could not be cast to integer value as 'notaport'"
    )
    assert "s3cret" not in result.stderr


def test_the_url_scheme_is_case_insensitive_as_in_pika(broker, queue):
    url = broker.url.replace("amqp://", "AMQP://")
    assert run_new_task(url, queue, "Capitals").stdout == " [x] Sent 'Capitals'\n"


def test_no_ack_with_prefetch_is_refused_as_meaningless():
    result = subprocess.run(
        command("worker.py", None, None, "--no-ack", "--prefetch", "1"),
        env=SCRIPT_ENV, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "worker.py: error: --prefetch has no effect with --no-ack: the broker sends every task at once"
    )
    assert no_traceback(result.stderr)


@pytest.fixture
def short_consumer_timeout(broker):
    """consumer_timeout of 1 s, checked every 0.5 s, for the channels opened
    from now on; the broker's own settings again afterwards. (Unsetting
    channel_tick_interval instead breaks every channel opened later.)"""
    keys = "[consumer_timeout, channel_tick_interval]"
    saved = broker.rabbitmqctl("eval", f"[application:get_env(rabbit, K) || K <- {keys}].").strip()
    broker.rabbitmqctl(
        "eval",
        "application:set_env(rabbit, consumer_timeout, 1000), "
        "application:set_env(rabbit, channel_tick_interval, 500).",
    )
    yield
    broker.rabbitmqctl(
        "eval",
        f"[application:set_env(rabbit, K, V) || {{K, {{ok, V}}}} <- lists:zip({keys}, {saved})].",
    )


def test_a_task_that_outlasts_consumer_timeout_costs_no_extra_connection(
    broker, queue, start_worker, short_consumer_timeout
):
    """RabbitMQ 3.x closes the channel of a consumer that keeps a task past
    consumer_timeout; 4.x cancels the consumer. Either way the worker says so,
    reconnects, and still holds one connection. A quorum queue: RabbitMQ 4.3
    enforces consumer_timeout on quorum queues only."""
    quorum = ("--queue-type", "quorum")
    worker = start_worker(queue, *quorum)
    run_new_task(broker.url, queue, *quorum, "Too slow.....")
    worker.wait_for(" [x] Received 'Too slow.....'")
    worker.wait_ready(count=2, timeout=20)
    # The task comes back and times out again, so the worker goes round:
    # consume, cancelled or closed, back off, reconnect. At no moment may it
    # hold two connections; between two it holds none.
    seen = []

    def consuming_again():
        seen.append(connections_of(broker, worker))
        assert seen[-1] <= 1, seen
        return seen[-1] == 1

    wait_until(consuming_again, 20, "the worker's one connection in the broker's list")
    said = re.compile(
        r"worker\.py: (the broker took back a task not acknowledged within consumer_timeout \(1 s\) "
        r"and will deliver it again; for tasks that long, raise consumer_timeout"  # 3.x
        r"|the broker cancelled our consumer \d+ s into a task \(RabbitMQ 4\.x does this when a task "
        r"outlasts consumer_timeout, and gives the task to another worker; or the queue's node went down\))"
        r"; retrying in "
    )
    assert any(said.match(line) for line in worker.errors), worker.errors


@pytest.mark.parametrize("script", ["new_task.py", "worker.py"])
def test_the_help_into_a_pipe_already_closed_is_no_traceback(script):
    """./worker.py --help | head -1, with head gone before the help comes:
    Python 3.10's argparse lets the BrokenPipeError through (3.12 and 3.13
    swallow it; the versions leg of CI runs this on each)."""
    result = subprocess.run(
        ["bash", "-c", '"$@" --help | (exec 0<&-; sleep 1)', "bash", *command(script, None, None)],
        env=SCRIPT_ENV, capture_output=True, text=True, timeout=30,
    )
    assert result.stderr == ""
