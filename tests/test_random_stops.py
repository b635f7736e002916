"""Stops at random moments of a worker's life, searched for the corners: a
seeded choice of the signal (SIGTERM, SIGTERM twice, Ctrl+C's SIGINT, SIGHUP)
and of the moment (right after start, before any task, during a task, between
tasks of a stream of short ones, during a reconnect after the broker closed
the connection or restarted, while the broker is silent past --timeout with a
failed task's copy on its way), with a random --prefetch (1-20, 50), tasks of
dots or --run's tests/task_command.py, --no-ack, classic or quorum queues, and
the broker near or far (tests/slow_link.py: each round trip of the set-up
after a reconnect then lasts long enough for a signal to land in it).

Whatever the case, the worker exits within DEADLINE of the last signal with
its documented code (0 for a warm stop, 130 for SIGINT, 129 for SIGHUP, which
leaves as Ctrl+C does), no task is lost (each is done, still queued, or
parked), none is done twice after a single SIGTERM, it takes no task once it
has said it is stopping (with --no-ack it does those it was pushed before), nothing of a --run command runs on after it, and no
traceback.

Each run's seed is in its report line and in every failure: replay one with
STOP_SEED=<seed> STOP_RUNS=1; search longer with STOP_RUNS=200. The suite runs
STOP_RUNS (default DEFAULT_RUNS) consecutive seeds from a fresh one; the
moment is the seed modulo the number of moments, and the signal the next
digit, so that consecutive seeds go through every moment and every signal.
STOP_MOMENTS=close,quiet keeps to the seeds of those moments (a seed alone
still replays its case).
"""

import collections
import dataclasses
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from brokers import wait_until
from corners import RECEIVED, accounting, done_and_received, merged_worker, queued, replay, seeds, tail, tracebacks
from scripts import WINE, send_lines
from slow_link import SlowLink
from test_real_work import beats_stopped, for_scripts, run_option

DEFAULT_RUNS = 4
FIRST_SEED, RUNS = seeds("STOP_SEED", "STOP_RUNS", DEFAULT_RUNS)
MOMENTS = ("start", "idle", "task", "stream", "close", "restart", "quiet")
ONLY = [moment for moment in os.environ.get("STOP_MOMENTS", "").split(",") if moment] or MOMENTS
assert set(ONLY) <= set(MOMENTS), f"STOP_MOMENTS: the moments are {', '.join(MOMENTS)}"
KINDS = ("SIGTERM", "SIGTERM twice", "SIGINT", *(("SIGHUP",) if WINE is None else ()))  # Windows has no SIGHUP
CODES = {"SIGTERM": 0, "SIGTERM twice": 0, "SIGINT": 130, "SIGHUP": 129}
FIRST_SIGNAL = {"SIGTERM": signal.SIGTERM, "SIGTERM twice": signal.SIGTERM, "SIGINT": signal.SIGINT,
                "SIGHUP": getattr(signal, "SIGHUP", None)}
DEADLINE = 8.0  # s from the last signal to the exit
TAKES_NO_TASK_AFTER = 1.0  # s from the first signal: a stop is acted on at the I/O loop's next tick (0.2 s)
# The connection lost before the stop, or during it: a task done may not have
# been acked (at least once), and a warm stop whose connection is lost exits 1.
TROUBLE = ("close", "restart", "quiet")
QUIET_FOR = 2.5  # s the broker is frozen, past the worker's --timeout of 1 s
COMMAND_OPTIONS = ("--attempts", "2", "--retry-delay", "0.1", "--time-limit", "1.5")


@dataclasses.dataclass
class Case:
    seed: int
    moment: str
    kind: str
    prefetch: int
    commands: bool  # --run tests/task_command.py, else the tutorial's dots
    no_ack: bool
    quorum: bool
    tasks: list
    delay: float  # s from the moment to the signal
    again: float  # s from the first SIGTERM to the second
    while_down: bool  # restart: the signal while the broker is down, else once it is back
    latency: float  # s each way on the link to the broker (0: direct)

    def __str__(self):
        kinds = collections.Counter(task.split(" ")[0].rstrip("0123456789") if self.commands else
                                    f"{task.count('.')}-dot" for task in self.tasks)
        return (f"{self.kind} at moment {self.moment!r} (+{self.delay:.2f} s"
                + (f", again +{self.again:.2f} s" if self.kind == "SIGTERM twice" else "")
                + (", broker down" if self.moment == "restart" and self.while_down else "")
                + ("), --no-ack" if self.no_ack else f"), --prefetch {self.prefetch}")
                + (" --queue-type quorum" if self.quorum else "") + (" --run task_command.py" if self.commands else "")
                + (f", {self.latency * 1000:.0f} ms each way" if self.latency else "")
                + f", {len(self.tasks)} tasks {dict(kinds)}")


def seed_of(run):
    """The run-th seed from FIRST_SEED on whose moment is one of ONLY."""
    seeds_of_moments = (seed for seed in range(FIRST_SEED, FIRST_SEED + 10 * len(MOMENTS) * (run + 1))
                        if MOMENTS[seed % len(MOMENTS)] in ONLY)
    return next(seed for i, seed in enumerate(seeds_of_moments) if i == run)


def case_for(seed, hang_folder):
    rng = random.Random(seed)
    moment = MOMENTS[seed % len(MOMENTS)]
    commands = moment == "quiet" or rng.random() < 0.4
    no_ack = not commands and moment not in TROUBLE and rng.random() < 0.35
    short = (lambda i: f"echo {i}") if commands else (lambda i: f"t{i}")
    if commands:
        long = lambda i: rng.choice(["sleep 1", "sleep 0.5", f"hang {hang_folder}", "fail 3"])  # noqa: E731
    else:
        long = lambda i: f"t{i}" + "." * rng.choice([1, 1, 2])  # noqa: E731

    def mixed(count, start=1, long_share=0.3):
        return [long(i) if rng.random() < long_share else short(i) for i in range(start, start + count)]

    if no_ack:  # every task is pushed at once: a warm stop does them all, a few seconds' worth
        tasks = [] if moment == "idle" else [f"t{i}" + "." * rng.choice([0, 0, 1]) for i in range(rng.randint(2, 5))]
    elif moment == "idle":
        tasks = []
    elif moment == "stream":
        tasks = mixed(rng.choice([20, 100]) if commands else rng.choice([50, 500, 5000]), 0, long_share=0.03)
    elif moment == "quiet":
        tasks = ["fail 3", *mixed(rng.randint(1, 5))]
    elif moment == "start":
        tasks = mixed(rng.randint(0, 5), 0)
    else:  # a long task first: the stop, or the reconnect, comes during it
        first = rng.choice(["sleep 1", f"hang {hang_folder}"]) if commands else "t0" + "." * rng.choice([1, 2])
        tasks = [first, *mixed(rng.randint(0, 5))]
    # From 30 ms on: before that, Python itself starts (site's .pth files), and a Ctrl+C there is its own to
    # handle (seen: its traceback, then the worker runs on as if nothing came).
    delay = {"start": (0.03, 0.4), "idle": (0, 0.5), "task": (0, 0.9), "stream": (0, 1.0),
             "close": (0, 1.2), "restart": (0, 2.0), "quiet": (0.3, 2.0)}[moment]
    return Case(
        seed=seed, moment=moment, kind=KINDS[seed // len(MOMENTS) % len(KINDS)],
        prefetch=rng.choice([*range(1, 21), 50]), commands=commands, no_ack=no_ack,
        quorum=rng.random() < 0.3, tasks=tasks, delay=rng.uniform(*delay), again=rng.uniform(0.05, 1.0),
        while_down=rng.random() < 0.5,
        latency=rng.choice([0.02, 0.05]) if rng.random() < (0.7 if moment == "close" else 0.2) else 0.0,
    )


def worker_options(case):
    return [
        *(["--no-ack"] if case.no_ack else ["--prefetch", str(case.prefetch)]),  # --prefetch is a usage error with --no-ack
        *(["--queue-type", "quorum"] if case.quorum else []),
        *([*run_option(), *COMMAND_OPTIONS] if case.commands else []),
        *(["--timeout", "1"] if case.moment == "quiet" else []),
    ]


def send_signal(worker, kind):
    if kind == "SIGINT":
        worker.interrupt()
    elif kind == "SIGHUP":
        worker.signal(signal.SIGHUP)
    else:
        worker.terminate()  # SIGTERM; Ctrl+Break on Windows


def close_connection(broker, worker):
    """rabbitmqctl close_connection, as an operator ends one client's connection."""
    name = f"worker.py (pid {worker.process.pid})"

    def pid():
        listing = broker.rabbitmqctl("-s", "list_connections", "pid", "client_properties")
        return next((line.split("\t")[0] for line in listing.splitlines() if name in line), None)

    broker.rabbitmqctl("close_connection", wait_until(pid, 10, f"the connection of {name}"), "closed by the test")


def said_since(worker, count, words):
    """The line after the first `count` that holds `words`, within 5 s, or ''
    (for timing only: nothing is asserted on it)."""
    try:
        return wait_until(lambda: next((line for line in worker.lines[count:] if words in line), None), 5, repr(words))
    except TimeoutError:
        return ""


def backoff(line):
    """The delay that 'retrying in 0.6 s' names, else 0.5 s (reconnect.py's first)."""
    said = re.search(r"retrying in ([0-9.]+) s", line)
    return float(said[1]) if said else 0.5


def end_leftovers(folder):
    """SIGKILL what still runs with `folder` in its command line: a --run
    command the worker left behind (Linux: /proc), so that it does not go on."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if str(folder).encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


def stop_at_random(broker, queue, tmp_path, case):
    """Run the case: (problems found, what happened in a few words, the worker's output)."""
    if case.tasks:
        send_lines(broker.url, queue, ["--queue-type", "quorum"] if case.quorum else [], case.tasks)
    link = SlowLink(broker.host, broker.port, case.latency) if case.latency else None
    worker = merged_worker(link.url(broker.url) if link else broker.url, queue, *worker_options(case))
    signalled, background = [], []

    def stop():
        send_signal(worker, case.kind)
        signalled.append(time.monotonic())
        if case.kind == "SIGTERM twice":
            time.sleep(case.again)
            send_signal(worker, case.kind)
            signalled.append(time.monotonic())

    def in_background(call):
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        background.append(thread)

    try:
        if case.moment == "start":
            time.sleep(case.delay)
            stop()
        else:
            worker.wait_ready()
            if case.moment != "idle":
                worker.wait_for(RECEIVED, prefix=True)
            if case.moment == "close":
                said = len(worker.lines)
                close_connection(broker, worker)
                time.sleep(backoff(said_since(worker, said, "retrying in")))  # the reconnect begins: its set-up next
            elif case.moment == "restart":
                broker.stop()
                if not case.while_down:
                    broker.start()
            elif case.moment == "quiet":
                broker.pause()
                frozen = time.monotonic()
                in_background(lambda: (time.sleep(max(0.0, frozen + QUIET_FOR - time.monotonic())), broker.resume()))
            time.sleep(case.delay)
            stop()
            if case.moment == "restart" and case.while_down:
                in_background(broker.start)
        try:
            code = worker.wait_exit(max(0.1, signalled[-1] + DEADLINE - time.monotonic()))
            took = time.monotonic() - signalled[-1]
        except subprocess.TimeoutExpired:
            code, took = None, None
            worker.kill()
    finally:
        for thread in background:
            thread.join(120)
        if case.moment == "quiet":
            broker.resume()  # whatever happened: a frozen broker serves no other test
        if link:
            link.close()
    left_running = hang_beats_on(tmp_path)
    end_leftovers(tmp_path)
    problems, story = judge(broker, queue, case, worker, code, took, signalled[0], left_running)
    return problems, story, worker.lines


def hang_beats_on(folder):
    """The 'hang' tasks' beat files, if any: still written a second after the worker is gone?"""
    names = [name for name in ("parent", "child") if (folder / name).exists()]
    return bool(names) and not beats_stopped(folder, names, since=time.time() + 1)


def judge(broker, queue, case, worker, code, took, first_signal, left_running):
    """What is wrong, after a case: `took` s from the last signal to its exit
    with `code` (None: it did not exit within DEADLINE)."""
    problems = []
    lines = worker.lines
    expected = {CODES[case.kind]}
    if case.moment == "start":
        expected.add(-FIRST_SIGNAL[case.kind])  # died of it before its handlers were in: nothing taken yet
    if case.kind.startswith("SIGTERM") and case.moment in ("restart", "quiet"):
        expected.add(1)  # the connection lost during the warm stop (test_stopping.py)
    found = tracebacks(lines)
    if case.moment == "start" and found and not any(t.through_our_code for t in found):
        expected.add(1)  # Ctrl+C while Python itself starts, before worker.py runs: its KeyboardInterrupt, not ours
        found = []
    if code is None:
        problems.append(f"still running {DEADLINE:g} s after the last signal (killed)")
    elif code not in expected:
        problems.append(f"exit code {code}, expected {' or '.join(map(str, sorted(expected)))}")
    problems += [f"a traceback: {traceback}" for traceback in found[:1]]
    stopping = next((i for i, line in enumerate(lines) if line.startswith("worker.py: stopping")), len(lines))
    after_stopping = [line for line in lines[stopping:] if line.startswith(RECEIVED)]
    late = [line for at, line in worker.out if at > first_signal + TAKES_NO_TASK_AFTER and line.startswith(RECEIVED)]
    if case.no_ack:
        pass  # its warm stop does the tasks the broker pushed it before: they are nowhere else
    elif after_stopping:
        problems.append(f"took {len(after_stopping)} task(s) after it said it was stopping: {after_stopping[0]}")
    elif late:
        problems.append(f"took {len(late)} task(s) more than {TAKES_NO_TASK_AFTER:g} s after the signal: {late[0]}")
    if left_running:
        problems.append("its --run command ran on after it had exited (the 'hang' task's beats)")

    sent = collections.Counter(task.encode() for task in case.tasks)
    done, received = done_and_received(lines)
    left, parked = queued(broker.url, queue, [f"{queue}.retry.0.1s"] if case.commands else [])
    if not (case.no_ack and case.kind != "SIGTERM"):  # --no-ack and a stop at once: lost, as the tutorial says
        exactly_once = case.kind == "SIGTERM" and case.moment not in TROUBLE
        problems += accounting(sent, done, left, parked, exactly_once)
    story = (f"exit {code}{f' {took:.1f} s after the last signal' if took is not None else ''}; {sum(sent.values())} sent, "
             f"{sum(received.values())} received, {sum(done.values())} done, {sum(left.values())} left, "
             f"{sum(parked.values())} parked")
    return problems, story


@pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run-{run}")
def test_a_stop_at_a_random_moment_loses_nothing_and_ends_in_time(broker, queue, tmp_path, report, run):
    seed = seed_of(run)
    case = case_for(seed, for_scripts(tmp_path))
    problems, story, lines = stop_at_random(broker, queue, tmp_path, case)
    said = f"seed {seed} (replay: {replay('STOP_SEED', 'STOP_RUNS', seed)}): {case}: {story}"
    report(said + (": " + "; ".join(problems) if problems else ": ok"))
    assert not problems, f"{said}:\n  " + "\n  ".join(problems) + "\n  the worker's output:\n" + tail(lines)


@pytest.mark.parametrize("prefetch", [2, 5, 10, 50])
def test_a_warm_stop_between_short_tasks_ends_within_10_s(broker, queue, prefetch):
    """The stream of `seq 10000 | ./new_task.py -`: a SIGTERM while the worker
    holds tasks it has not started (and, as often as not, none started)."""
    tasks = [str(i) for i in range(10000)]
    send_lines(broker.url, queue, (), tasks)
    worker = merged_worker(broker.url, queue, "--prefetch", str(prefetch))
    worker.wait_ready()
    wait_until(lambda: len(worker.lines) > 1000, 30, "the stream under way")
    worker.terminate()
    asked = time.monotonic()
    try:
        code = worker.wait_exit(10)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - asked
    lines = worker.lines
    problems = [] if code == 0 else [f"exit code {code} (None: still running after 10 s)"]
    stopping = next((i for i, line in enumerate(lines) if line.startswith("worker.py: stopping")), len(lines))
    problems += [f"took a task after it said it was stopping: {line}" for line in lines[stopping:] if line.startswith(RECEIVED)][:1]
    problems += [f"a traceback: {traceback}" for traceback in tracebacks(lines)[:1]]
    if code is None:
        worker.kill()
    done, _ = done_and_received(lines)
    left, parked = queued(broker.url, queue)
    problems += accounting(collections.Counter(task.encode() for task in tasks), done, left, parked, exactly_once=True)
    assert not problems, (f"--prefetch {prefetch}, SIGTERM after {sum(done.values())} tasks done, exit after "
                          f"{took:.1f} s: " + "; ".join(problems) + "\n" + tail(lines))
