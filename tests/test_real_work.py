"""Real work (docs/real-work.md): a command per task (--run), a failure
reported and retried with growing delays, then parked in QUEUE.dead with its
reason; time limits; the Python work() raising; stops during a task and
during a retry's delay; a quorum queue under the poison-task policy.

The commands are tests/task_command.py, whose task text says what it does.
The Python work() that raises is a copy of worker.py, in a folder of the
test's own, with work() replaced (worker_with_work): the user's way.
"""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest

from brokers import ready_count, wait_until
from scripts import ROOT, SCRIPT_ENV, SCRIPT_PYTHON, STOP_SIGNAL, WAITING, WINE, Worker, command, interpreter, queue_drained, run_new_task, send_lines

TASK_COMMAND = ROOT / "tests" / "task_command.py"
KINDS = {"classic": (), "quorum": ("--queue-type", "quorum")}


def for_scripts(path):
    """A path as the scripts (and their commands) see it: wine's Z: is /."""
    return "Z:" + str(path).replace("/", "\\") if WINE is not None else str(path)


def run_option(*words):
    """--run COMMAND for tests/task_command.py (and more words), quoted for the worker's platform."""
    if WINE is not None:
        return ["--run", subprocess.list2cmdline([for_scripts(SCRIPT_PYTHON[-1]), for_scripts(TASK_COMMAND), *words])]
    return ["--run", subprocess.list2cmdline([sys.executable, str(TASK_COMMAND), *words]) if sys.platform == "win32"
            else " ".join([sys.executable, str(TASK_COMMAND), *words])]


def failed_line(task, reason, attempt, attempts=5, then=None):
    return f"worker.py: task {task!r} failed: {reason} (attempt {attempt} of {attempts}); {then}"


def parked(url, queue):
    """The tasks parked in QUEUE.dead: (body, headers) of each, left there."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel, found = connection.channel(), []
        while True:
            method, properties, body = channel.basic_get(f"{queue}.dead")
            if method is None:
                return found
            found.append((body.decode(), properties.headers))
    finally:
        connection.close()


def beats_stopped(folder, names, since):
    """Every beat file in `folder` was last written before `since`, and is not
    written again within a second."""
    def last(name):
        return float((folder / name).read_text() or 0)

    before = {name: last(name) for name in names}
    time.sleep(1)
    return all(before[name] < since and last(name) == before[name] for name in names)


def test_a_command_is_done_with_the_task_as_its_last_argument_and_no_shell(broker, queue, start_worker, tmp_path):
    worker = start_worker(queue, *run_option())
    marker = tmp_path / "ran"
    touch = for_scripts(marker)
    task = f"echo ; touch {touch} $(touch {touch}) `touch {touch}` 'q' \"q\" & | > {touch}"
    run_new_task(broker.url, queue, task)
    worker.wait_for(" [x] Done")
    assert worker.lines == [
        WAITING,
        f" [x] Received {task!r}",
        f"arguments: {[task]!r}",  # its output between Received and Done: one argument, verbatim
        " [x] Done",
    ]
    assert not marker.exists()  # no shell ran it
    assert worker.errors == []
    queue_drained(broker, queue)


def test_a_task_that_looks_like_an_option_comes_after_the_commands_own_double_dash(broker, queue, start_worker):
    """docs/real-work.md: a COMMAND that ends its options with `--` gets the
    task after it, one argument, whatever it starts with."""
    worker = start_worker(queue, *run_option("--"))
    run_new_task(broker.url, queue, "--", "-rf")  # new_task.py's own options end at its `--` too
    worker.wait_for(" [x] Done")
    assert worker.lines == [WAITING, " [x] Received '-rf'", "arguments: ['--', '-rf']", " [x] Done"]
    assert worker.errors == []
    queue_drained(broker, queue)


def test_a_command_that_fails_then_succeeds_is_done_on_a_retry(broker, queue, start_worker, tmp_path):
    worker = start_worker(queue, *run_option())
    task = f"flaky {for_scripts(tmp_path / 'tried')}"
    run_new_task(broker.url, queue, task)
    worker.wait_for(" [x] Done", timeout=30)
    assert worker.errors == [failed_line(task, "exit status 3", 1, then="trying again in 1 s")]
    assert worker.received() == [repr(task), repr(task)]
    queue_drained(broker, queue)
    assert ready_count(broker.url, f"{queue}.retry.1s") == 0


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_task_that_always_fails_is_parked_with_its_reason_while_others_go_through(
    broker, queue, start_worker, kind
):
    worker = start_worker(queue, *KINDS[kind], *run_option())
    sent = time.monotonic()
    send_lines(broker.url, queue, KINDS[kind], ["fail 3", "echo 0", "echo 1", "echo 2"])
    failures = worker.wait_for(f"worker.py: task 'fail 3' failed", count=5, stream="err", prefix=True, timeout=120)
    parked_at = failures[-1]
    assert parked_at - sent < 180
    assert worker.errors == [
        failed_line("fail 3", "exit status 3", 1, then="trying again in 1 s"),
        failed_line("fail 3", "exit status 3", 2, then="trying again in 2 s"),
        failed_line("fail 3", "exit status 3", 3, then="trying again in 4 s"),
        failed_line("fail 3", "exit status 3", 4, then="trying again in 8 s"),
        failed_line("fail 3", "exit status 3", 5, then=f"parked in queue '{queue}.dead'"),
    ]
    # Growing delays, each from a failure to the next attempt (not counting the
    # command's run); the first retry may also wait behind the tasks sent with it.
    attempts = worker.wait_for(" [x] Received 'fail 3'", count=5)
    delays = [attempt - failure for failure, attempt in zip(failures, attempts[1:])]
    assert delays[0] >= 0.95 and [round(delay) for delay in delays[1:]] == [2, 4, 8], delays
    done = worker.wait_for(" [x] Done", count=3)
    assert max(done) < parked_at
    assert worker.received()[:4] == ["'fail 3'", "'echo 0'", "'echo 1'", "'echo 2'"]  # sent at once, before a retry
    queue_drained(broker, queue)
    [(body, headers)] = parked(broker.url, queue)
    assert body == "fail 3"
    assert (headers["attempts"], headers["error"]) == (5, "exit status 3")
    assert {"first-failed-at", "failed-at", "parked-at"} <= set(headers)


def test_a_command_past_its_time_limit_is_ended_with_its_child_and_the_next_task_done(
    broker, queue, start_worker, tmp_path
):
    worker = start_worker(queue, *run_option(), "--time-limit", "2", "--attempts", "1")
    task = f"hang {for_scripts(tmp_path)}"
    run_new_task(broker.url, queue, task)
    run_new_task(broker.url, queue, "echo next")
    [received] = worker.wait_for(f" [x] Received {task!r}")
    wait_until(lambda: (tmp_path / "parent").exists() and (tmp_path / "child").exists(), 10, "both to beat")
    worker.wait_for(" [x] Done", timeout=15)
    assert worker.errors == [
        failed_line(task, "ran past its time limit of 2 s", 1, 1, then=f"parked in queue '{queue}.dead'")]
    wall_clock_at_received = time.time() - (time.monotonic() - received)
    assert beats_stopped(tmp_path, ["parent", "child"], since=wall_clock_at_received + 5)
    assert worker.received()[-1] == "'echo next'"
    queue_drained(broker, queue)


def test_a_failed_task_with_no_ack_is_gone_and_the_worker_says_so(broker, queue, start_worker):
    worker = start_worker(queue, *run_option(), "--no-ack")
    run_new_task(broker.url, queue, "fail 4")
    run_new_task(broker.url, queue, "echo after")
    worker.wait_for(" [x] Done")
    assert worker.errors == [
        "worker.py: task 'fail 4' failed: exit status 4; it is gone (--no-ack: the broker forgot it when it was delivered)"]
    queue_drained(broker, queue)
    assert broker.rabbitmqctl("-s", "list_queues", "name").split().count(f"{queue}.retry.1s") == 0


# The Python work(), the user's way: worker.py copied with work() replaced.
RAISING_WORK = '''def work(body):
    """A user's work that fails for some tasks, and hangs for others."""
    if body.startswith(b"raise"):
        raise RuntimeError("could not resize the image")
    time.sleep(120 if body == b"hang" else body.count(b"."))
'''


def worker_with_work(folder, code):
    """worker.py and its package copied into `folder`, its work() replaced by `code`."""
    text = (ROOT / "worker.py").read_text()
    start = text.index("def work(body):")
    end = text.index("\n\n\n", start)
    (folder / "worker.py").write_text(text[:start] + code.rstrip("\n") + text[end:])
    shutil.copymode(ROOT / "worker.py", folder / "worker.py")  # ./worker.py, as a user runs it
    shutil.copytree(ROOT / "workqueue", folder / "workqueue", ignore=shutil.ignore_patterns("__pycache__"))
    return folder / "worker.py"


def start_copy(broker, queue, script, *options):
    worker = Worker(broker.url, queue, argv=[*interpreter(script), "--url", broker.url, "--queue", queue, *options])
    worker.wait_ready()
    return worker


def test_the_python_work_raising_is_reported_with_its_traceback_and_the_worker_goes_on(
    broker, queue, tmp_path
):
    worker = start_copy(broker, queue, worker_with_work(tmp_path, RAISING_WORK))
    send_lines(broker.url, queue, (), ["raise", "next."])  # at once: before the retry comes back
    worker.wait_for(" [x] Done")
    errors = worker.errors
    assert errors[0] == failed_line("raise", "RuntimeError: could not resize the image", 1, then="trying again in 1 s")
    traceback = errors[1:]
    if any(line.startswith("worker.py: ") for line in traceback):  # the next attempt's, already
        traceback = traceback[:next(i for i, line in enumerate(traceback) if line.startswith("worker.py: "))]
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "RuntimeError: could not resize the image"
    # The user's frames only, the callback's and work()'s, both in their worker.py: no frame of ours.
    frames = [line for line in traceback if line.startswith('  File "')]
    assert [frame.rsplit(", in ", 1)[1] for frame in frames] == ["callback", "work"], traceback
    assert all(frame.startswith(f'  File "{for_scripts(tmp_path / "worker.py")}"') for frame in frames), traceback
    assert 'raise RuntimeError("could not resize the image")' in traceback[-2]
    assert worker.received()[:2] == ["'raise'", "'next.'"]
    worker.wait_for(" [x] Received 'raise'", count=2, timeout=15)  # tried again, fails again...
    worker.terminate()  # ...and a warm stop stops it as usual
    assert worker.wait_exit(15) == 0
    assert worker.errors[-1].startswith(f"worker.py: stopped ({STOP_SIGNAL})")


def test_the_python_work_past_its_time_limit_fails_the_task_and_the_worker_leaves(broker, queue, tmp_path):
    worker = start_copy(broker, queue, worker_with_work(tmp_path, RAISING_WORK), "--time-limit", "2")
    run_new_task(broker.url, queue, "hang")
    worker.wait_for(" [x] Received 'hang'")
    assert worker.wait_exit(10) == 1
    assert worker.errors == [
        failed_line("hang", "ran past its time limit of 2 s", 1, then="trying again in 1 s"),
        "worker.py: the work of task 'hang' is still running on its thread, which nothing can stop: "
        "leaving, so that it ends with the worker",
    ]
    # Failed, not lost: back in the queue after its delay, for a fresh worker.
    wait_until(lambda: ready_count(broker.url, queue) == 1, 10, "the task back from its delay")


# Stops during a task, and during a retry's delay.
def test_a_warm_stop_lets_the_command_in_hand_finish(broker, queue, start_worker):
    worker = start_worker(queue, *run_option())
    run_new_task(broker.url, queue, "sleep 3")
    worker.wait_for(" [x] Received 'sleep 3'")
    worker.terminate()
    assert worker.wait_exit(15) == 0
    assert worker.lines[-1] == " [x] Done"
    queue_drained(broker, queue)


def test_ctrl_c_ends_the_command_and_its_child_at_once_and_the_task_goes_back(broker, queue, start_worker, tmp_path):
    worker = start_worker(queue, *run_option())
    task = f"hang {for_scripts(tmp_path)}"
    run_new_task(broker.url, queue, task)
    worker.wait_for(f" [x] Received {task!r}")
    wait_until(lambda: (tmp_path / "parent").exists() and (tmp_path / "child").exists(), 10, "both to beat")
    worker.interrupt()
    assert worker.wait_exit(10) == 130
    assert beats_stopped(tmp_path, ["parent", "child"], since=time.time())
    wait_until(lambda: broker.queue_counts(queue) == (1, 0), 30, "the task back in the queue")


def test_a_warm_stop_during_a_command_that_fails_sends_its_copy_first(broker, queue, start_worker):
    worker = start_worker(queue, *run_option(), "--retry-delay", "3")
    run_new_task(broker.url, queue, "slow-fail 3")
    worker.wait_for(" [x] Received 'slow-fail 3'")
    worker.terminate()
    assert worker.wait_exit(15) == 0
    assert worker.errors[-2:] == [
        failed_line("slow-fail 3", "exit status 3", 1, then="trying again in 3 s"),
        f"worker.py: stopped ({STOP_SIGNAL}) once its task had failed (see above)",
    ]
    wait_until(lambda: ready_count(broker.url, queue) == 1, 15, "the task back from its delay")


@pytest.mark.parametrize("stop", ["warm", "ctrl-c"])
def test_a_stop_during_a_retrys_delay_loses_nothing(broker, queue, start_worker, stop):
    worker = start_worker(queue, *run_option(), "--retry-delay", "5")
    run_new_task(broker.url, queue, "fail 3")
    worker.wait_for(failed_line("fail 3", "exit status 3", 1, then="trying again in 5 s"), stream="err")
    if stop == "warm":
        worker.terminate()
        assert worker.wait_exit(10) == 0
    else:
        worker.interrupt()
        assert worker.wait_exit(10) == 130
    wait_until(lambda: ready_count(broker.url, queue) == 1, 15, "the task back from its delay")
    assert ready_count(broker.url, f"{queue}.retry.5s") == 0


def test_a_copy_its_delay_queue_refuses_is_parked_instead_saying_why(broker, queue, start_worker):
    """The delay queue full (a policy: at most 0 tasks, refuse the rest): the
    copy is refused, and the task is parked rather than looped, its reason
    saying so."""
    delay_queue = f"{queue}.retry.60s"
    policy = f"{queue}-delay-full"
    broker.rabbitmqctl("set_policy", "--apply-to", "queues", "--priority", "10", policy,
                       f"^{delay_queue.replace('.', '[.]')}$", '{"max-length": 0, "overflow": "reject-publish"}')
    try:
        worker = start_worker(queue, *run_option(), "--retry-delay", "60")
        run_new_task(broker.url, queue, "fail 3")
        reason = f"exit status 3; its delay queue {delay_queue!r} refused its copy"
        worker.wait_for(failed_line("fail 3", reason, 1, then=f"parked in queue '{queue}.dead'"), stream="err")
        wait_until(lambda: ready_count(broker.url, f"{queue}.dead") == 1, 10, "the task parked")
    finally:
        broker.rabbitmqctl("clear_policy", policy)
    assert worker.received() == ["'fail 3'"]  # not looped
    [(body, headers)] = parked(broker.url, queue)
    assert (body, headers["attempts"], headers["error"]) == ("fail 3", 1, reason)
    assert broker.queue_counts(queue) == (0, 0)
    assert ready_count(broker.url, delay_queue) == 0


def test_on_a_quorum_queue_the_policys_delivery_limit_parks_nothing_before_our_attempts(
    broker, queue, start_worker
):
    """The policy gives quorum queues a delivery limit of 5 (parked at the
    6th delivery): 8 attempts all happen, and the task is parked by us."""
    worker = start_worker(queue, *KINDS["quorum"], *run_option(), "--attempts", "8", "--retry-delay", "0.1")
    run_new_task(broker.url, queue, *KINDS["quorum"], "fail 5")
    worker.wait_for("worker.py: task 'fail 5' failed", count=8, stream="err", prefix=True, timeout=60)
    assert worker.errors[-1] == failed_line("fail 5", "exit status 5", 8, 8, then=f"parked in queue '{queue}.dead'")
    assert worker.received() == ["'fail 5'"] * 8
    queue_drained(broker, queue)
    [(body, headers)] = parked(broker.url, queue)
    assert (body, headers["attempts"]) == ("fail 5", 8)
    assert "x-death" not in headers  # parked by us, not by the delivery limit


def test_a_parked_task_sent_back_is_given_its_attempts_anew(broker, queue, start_worker):
    """Sent back as a shovel sends it (docs/real-work.md): its headers as
    they are, parked-at among them."""
    worker = start_worker(queue, *run_option(), "--attempts", "2", "--retry-delay", "0.1")
    run_new_task(broker.url, queue, "fail 3")
    worker.wait_for(failed_line("fail 3", "exit status 3", 2, 2, then=f"parked in queue '{queue}.dead'"), stream="err")
    wait_until(lambda: ready_count(broker.url, f"{queue}.dead") == 1, 10, "the task parked")  # said, then confirmed
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        method, properties, body = channel.basic_get(f"{queue}.dead")
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, properties)
        channel.basic_ack(method.delivery_tag)
    finally:
        connection.close()
    worker.wait_for(failed_line("fail 3", "exit status 3", 1, 2, then="trying again in 0.1 s"), count=2, stream="err")
    worker.wait_for(failed_line("fail 3", "exit status 3", 2, 2, then=f"parked in queue '{queue}.dead'"),
                    count=2, stream="err")
    queue_drained(broker, queue)  # acked once the copy is confirmed
    assert [headers["attempts"] for _, headers in parked(broker.url, queue)] == [2]
