"""The scripts started with a standard stream closed, as from cron or a
service with no terminal (`>&-`, `<&-`: Python then leaves sys.stdout or
sys.stdin None), or with stdout a pipe that nothing reads: one line on
stderr, exit 1, before anything is sent or taken; nothing said, but exit 1
all the same, when stderr is closed too; a stream the script does not need
(stdin for the worker, stderr) closed is no matter."""

import os
import subprocess
import sys

import pika
import pytest

from brokers import ready_count
from scripts import SCRIPT_ENV, STOP_SIGNAL, WAITING, WINE, Worker, command, queue_drained, run_new_task

# A descriptor bash closed reaches a Windows program under wine as an invalid
# handle, on which CPython stops in its start-up ("Fatal Python error:
# init_sys_streams ... Invalid handle"), before any code of ours. A Windows
# program started without a stream (pythonw, a service) has no handle there,
# which CPython makes None as on POSIX: wine cannot start one so from bash.
pytestmark = pytest.mark.skipif(WINE is not None, reason="bash's closed descriptors are invalid handles under wine")

NO_OUTPUT = ("error: standard output is closed: the script's lines would go nowhere; "
             "to discard them, redirect it to /dev/null (>/dev/null)")
NO_READER = ("error: standard output is a pipe that nothing reads (its reader has gone); "
             "to discard them, redirect it to /dev/null (>/dev/null)")
NO_INPUT = ("error: standard input is closed: there are no tasks to read; give the task as arguments, "
            "or the tasks one a line from a file (< tasks.txt)")


def redirected(redirections, script, url, queue, *arguments):
    """bash -c 'exec SCRIPT ... REDIRECTIONS', as a crontab line runs it."""
    return ["bash", "-c", f'exec "$@" {redirections}', "bash", *command(script, url, queue, *arguments)]


def run(redirections, script, url, queue, *arguments, **streams):
    """The script with its streams so redirected: it must end by itself (no hang)."""
    streams = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.run(redirected(redirections, script, url, queue, *arguments),
                          env=SCRIPT_ENV, text=True, timeout=60, **streams)


def declared(url, queue):
    """The queue, declared as the scripts declare it, with no task in it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_declare(queue, durable=True)
    finally:
        connection.close()


def test_a_worker_with_its_output_closed_says_so_and_takes_no_task(broker, queue):
    run_new_task(broker.url, queue, "Still here.")
    result = run(">&-", "worker.py", broker.url, queue)
    assert (result.returncode, result.stderr.splitlines()) == (1, [f"worker.py: {NO_OUTPUT}"])
    assert broker.queue_counts(queue) == (1, 0)  # not taken, not redelivered: never seen


def test_new_task_with_its_output_closed_says_so_and_sends_nothing(broker, queue):
    declared(broker.url, queue)
    result = run(">&-", "new_task.py", broker.url, queue, "Not sent.")
    assert (result.returncode, result.stderr.splitlines()) == (1, [f"new_task.py: {NO_OUTPUT}"])
    assert ready_count(broker.url, queue) == 0


def test_new_task_reading_a_closed_input_says_so_and_sends_nothing(broker, queue):
    declared(broker.url, queue)
    result = run("<&-", "new_task.py", broker.url, queue, "-")
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (1, "", [f"new_task.py: {NO_INPUT}"])
    assert ready_count(broker.url, queue) == 0


def test_with_stdout_and_stderr_closed_nothing_is_said_but_it_exits_1(broker, queue):
    run_new_task(broker.url, queue, "Still here.")
    for script, arguments in (("worker.py", ()), ("new_task.py", ("Not sent.",)), ("new_task.py", ("-",))):
        result = run(">&- 2>&-", script, broker.url, queue, *arguments)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", ""), script
    assert broker.queue_counts(queue) == (1, 0)


def test_a_usage_error_with_output_closed_is_its_line_and_no_traceback():
    result = run(">&-", "worker.py", None, None, "--prefetch", "x")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "worker.py: error: argument --prefetch: 'x' is not an integer"
    assert "Traceback" not in result.stderr


def test_stdout_a_pipe_that_nothing_reads_is_said_before_anything_is_sent_or_taken(broker, queue):
    """Not the same as a closed descriptor: writes to it fail (EPIPE). The
    worker printed its first line only once connected, where pika took the
    failure for a lost connection and reconnected for ever; new_task.py sent
    the task, then said it might not be in the queue."""
    run_new_task(broker.url, queue, "Still here.")
    for script, arguments in (("worker.py", ()), ("new_task.py", ("Not sent.",))):
        reading, writing = os.pipe()
        os.close(reading)
        try:
            result = run("", script, broker.url, queue, *arguments, stdout=writing)
        finally:
            os.close(writing)
        assert (result.returncode, result.stderr.splitlines()) == (1, [f"{script}: {NO_READER}"]), script
    assert broker.queue_counts(queue) == (1, 0)


def test_a_worker_with_its_input_closed_works(broker, queue):
    """It reads no standard input."""
    worker = Worker(None, None, argv=redirected("<&-", "worker.py", broker.url, queue))
    worker.wait_ready()
    run_new_task(broker.url, queue, "Done.")
    worker.wait_for(" [x] Done")
    worker.terminate()
    assert worker.wait_exit(timeout=15) == 0
    assert worker.lines == [WAITING, " [x] Received 'Done.'", " [x] Done"]
    assert worker.errors == [f"worker.py: stopped ({STOP_SIGNAL})"]
    queue_drained(broker, queue)


def test_with_stderr_closed_diagnostics_go_nowhere_not_to_stdout():
    """print(file=None) writes to stdout: the error was on stdout, among the tutorial's lines."""
    result = run("2>&-", "new_task.py", "amqp://guest:guest@127.0.0.1:1/%2F", None, "x")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_with_stderr_closed_a_commands_warning_does_not_fail_its_task(broker, queue):
    """--run's command inherits the worker's stderr: the null device, not a
    closed descriptor its first warning fails on (nor whatever socket the
    worker would have opened as descriptor 2)."""
    warn = f"{sys.executable} -c \"import sys; sys.stderr.write('a warning'); sys.stderr.flush()\""
    worker = Worker(None, None, argv=redirected("2>&-", "worker.py", broker.url, queue, "--run", warn))
    worker.wait_ready()
    run_new_task(broker.url, queue, "warns")
    worker.wait_for(" [x] Done")
    worker.terminate()
    assert worker.wait_exit(timeout=15) == 0
    assert worker.lines == [WAITING, " [x] Received 'warns'", " [x] Done"]
    queue_drained(broker, queue)
