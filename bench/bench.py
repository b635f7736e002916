#!/usr/bin/env python3
"""Benchmark: our pair against the tutorial's code shape, same broker, same run.

    python bench/bench.py            # full sizes, a few minutes
    python bench/bench.py --smoke    # tiny sizes: checks it runs, measures nothing

The reference is tests/tutorial_client.py, the tutorial's scripts as written
on pika 1.x (sleep and ack inside the callback, no
publisher confirms), unless a measure names another: the drain (1) is also
measured against pika's floor (bench/minimal_consumer.py) and, where node and
amqplib are installed (npm ci --prefix bench), Node.js amqplib
(bench/minimal_consumer.js), at prefetch 1, 10 and 50, each at the same
qos; standard input (7) against a minimal pipelined publisher
(bench/minimal_publisher.py). Runs of ours and the references
alternate. Without --url the benchmark starts a private broker the way the
tests do.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from brokers import NoBroker, own_broker, wait_until  # noqa: E402  (the tests' broker)
from scripts import TUTORIAL_CLIENT  # noqa: E402  (the tutorial's own scripts)

PYTHON = sys.executable
# The scripts run as a user runs them: from the second call on, Python reads
# our package's compiled modules from __pycache__. An environment that
# forbids writing them (PYTHONDONTWRITEBYTECODE, set on some machines) would
# have every call compile them anew: about 8 ms of new_task.py's 100.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
BENCH = ROOT / "bench"
OURS, REFERENCE = "ours", "reference"


def worker_command(kind, url, queue):
    if kind == OURS:
        return [PYTHON, ROOT / "worker.py", "--url", url, "--queue", queue]
    return [PYTHON, TUTORIAL_CLIENT, "work", url, queue, "classic"]


class Consumer:
    """One of the drain's consumers (measure 1): its row's label, its
    command(url, queue), whether it goes in the table's "ours" column, and
    the prefetch (qos) it drains at."""

    def __init__(self, label, command, ours=False, target="", prefetch=1):
        self.label, self.command, self.ours, self.target = label, command, ours, target
        self.prefetch = prefetch


FLOOR = "pika's floor (bench/minimal_consumer.py)"
# The drain's prefetches: the default (fair dispatch), and two that let the
# broker send ahead, each with the references at the same qos.
DRAIN_PREFETCHES = (1, 10, 50)


def prefetch_options(prefetch):
    """Our worker's options for this prefetch: none for the default, 1."""
    return [] if prefetch == 1 else ["--prefetch", str(prefetch)]


def drain_consumers(prefetch=1):
    """The drain's consumers at this prefetch, in the order they take turns:
    ours first, pika's floor (the ratios' reference) second, both at the same
    qos; the tutorial's worker (qos 1, as written) at prefetch 1 only. One
    more kind is one more line, e.g.
    Consumer("ours, --run true", lambda url, queue: worker_command(OURS, url, queue) + ["--run", "true"], ours=True)."""
    qos = str(prefetch)
    consumers = [
        Consumer("ours", lambda url, queue: worker_command(OURS, url, queue) + prefetch_options(prefetch),
                 ours=True, target="≥ 0.9× pika's floor", prefetch=prefetch),
        Consumer(FLOOR, lambda url, queue: [PYTHON, BENCH / "minimal_consumer.py", url, queue, qos],
                 prefetch=prefetch),
    ]
    if prefetch == 1:
        consumers.append(Consumer("the tutorial's worker (tests/tutorial_client.py)",
                                  lambda url, queue: worker_command(REFERENCE, url, queue), target="ours ≥ 1.0× it"))
    node, why_not = node_consumer()
    if node:
        consumers.append(Consumer(f"Node.js amqplib {node} (bench/minimal_consumer.js)",
                                  lambda url, queue: ["node", BENCH / "minimal_consumer.js", url, queue, qos],
                                  prefetch=prefetch))
        return consumers, None
    return consumers, f"Measure 1 skips the Node.js amqplib consumer: {why_not}."


def node_consumer():
    """(amqplib's version, None) if node and bench/node_modules' amqplib 0.10
    are there, else (None, why not)."""
    if shutil.which("node") is None:
        return None, "no node on the PATH"
    installed = BENCH / "node_modules" / "amqplib" / "package.json"
    if not installed.exists():
        return None, "amqplib is not installed (npm ci --prefix bench)"
    version = json.loads(installed.read_text())["version"]
    if not version.startswith("0.10."):
        return None, f"bench/node_modules has amqplib {version}, not 0.10 (npm ci --prefix bench)"
    return version, None


def new_task_command(kind, url, queue, task):
    if kind == OURS:
        return [PYTHON, ROOT / "new_task.py", "--url", url, "--queue", queue, task]
    return [PYTHON, TUTORIAL_CLIENT, "send", url, queue, "classic", task]


MINIMAL, ONE_BY_ONE = "minimal", "one by one"


def stdin_publisher_command(kind, url, queue):
    if kind == OURS:
        return [PYTHON, ROOT / "new_task.py", "--url", url, "--queue", queue, "-"]
    if kind == MINIMAL:  # pipelined, the ceiling
        return [PYTHON, BENCH / "minimal_publisher.py", url, queue]
    return [PYTHON, BENCH / "reference_publisher.py", url, queue]  # one confirm at a time


def new_queue(url):
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    with Publisher(url, queue):
        pass  # declares it
    return queue


class Publisher:
    """The benchmark's own publisher, to load queues fast."""

    def __init__(self, url, queue):
        self.queue = queue
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.queue_declare(queue, durable=True)

    def publish(self, bodies, confirm=False):
        if confirm:
            self.channel.confirm_delivery()
        for body in bodies:
            self.channel.basic_publish(
                "", self.queue, body.encode(), pika.BasicProperties(delivery_mode=2)
            )

    def ready(self):
        return self.channel.queue_declare(self.queue, durable=True, passive=True).method.message_count

    def delete(self):
        self.channel.queue_delete(self.queue)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.connection.close()


class Lines:
    """A worker process's stdout lines, timestamped as they arrive."""

    def __init__(self, command):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            with self.changed:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))
                self.changed.notify_all()

    def times(self, prefix):
        return [t for t, line in self.lines if line.startswith(prefix)]

    def wait(self, prefix, count, timeout=120):
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.times(prefix)) >= count, timeout)
        if not ok:
            raise TimeoutError(f"no {count} x {prefix!r} within {timeout} s")
        with self.changed:
            return self.times(prefix)

    def rss_kib(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self):
        self.process.kill()
        self.process.wait()


def start_workers(kind, url, queue, count=1, *options):
    workers = [Lines(worker_command(kind, url, queue) + list(options)) for _ in range(count)]
    for worker in workers:
        worker.wait(" [*] Waiting", 1)
    return workers


def drain_rate(command, url, tasks):
    """Tasks/s of one consumer on a preloaded queue, stdout to a file;
    command(url, queue) starts it (with its prefetch)."""
    queue = new_queue(url)
    with Publisher(url, queue) as publisher:
        publisher.publish(f"task {n}" for n in range(tasks))
        wait_until(lambda: publisher.ready() == tasks, 60, "the preload")
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "stdout"
            with open(output, "w") as out:
                process = subprocess.Popen(command(url, queue), stdout=out)
            first = last = None
            before = time.perf_counter()  # the last look that saw no task started
            done = done_at_first = 0
            partial = ""
            deadline = time.monotonic() + 300
            with open(output) as reader:
                while done < tasks:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{command(url, queue)}: {done} of {tasks} done")
                    *lines, partial = (partial + reader.read()).split("\n")
                    last = time.perf_counter()
                    if first is None and any(line.startswith(" [x] Received") for line in lines):
                        first, done_at_first = last, lines.count(" [x] Done")
                    elif first is None:
                        before = last
                    done += lines.count(" [x] Done")
                    time.sleep(0.002)
            process.kill()
            process.wait()
        publisher.delete()
    # The tasks done between the first look that saw one started and the last
    # look: with a prefetch above 1 some are done by that first look already.
    # All of them (tiny sizes): since the look before.
    if done_at_first < tasks:
        return (tasks - done_at_first) / (last - first)
    return tasks / (last - before)


def task_overhead(kind, url, tasks):
    """For one-dot tasks: (Done - Received) - 1 s, and confirmed publish -> Received."""
    queue = new_queue(url)
    (worker,) = start_workers(kind, url, queue)
    work, latency = [], []
    with Publisher(url, queue) as publisher:
        publisher.channel.confirm_delivery()
        for n in range(1, tasks + 1):
            sent = time.perf_counter()
            publisher.publish([f"one second {n}."])
            received = worker.wait(" [x] Received", n)[-1]
            done = worker.wait(" [x] Done", n)[-1]
            work.append(done - received - 1.0)
            latency.append(received - sent)
        worker.stop()
        publisher.delete()
    return statistics.median(work), statistics.median(latency)


def run_tasks(url, dots, workers, *options):
    """Our workers on a new queue, the tasks published at once, until all are
    done: the time of publishing, and the (stopped) workers with their lines."""
    queue = new_queue(url)
    running = start_workers(OURS, url, queue, workers, *options)
    with Publisher(url, queue) as publisher:
        start = time.perf_counter()
        publisher.publish([f"task {n}" + "." * d for n, d in enumerate(dots)])
        deadline = time.monotonic() + sum(dots) + 60
        while sum(len(w.times(" [x] Done")) for w in running) < len(dots):
            if time.monotonic() > deadline:
                raise TimeoutError("tasks not done")
            time.sleep(0.01)
        for worker in running:
            worker.stop()
        publisher.delete()
    return start, running


def makespan(url, dots, workers, *options):
    """Seconds from publishing to the last Done, for our workers."""
    start, running = run_tasks(url, dots, workers, *options)
    return max(t for w in running for t in w.times(" [x] Done")) - start


def new_task_wall(kind, url, queue):
    started = time.perf_counter()
    subprocess.run(new_task_command(kind, url, queue, "x"), check=True, capture_output=True)
    return time.perf_counter() - started


def input_rate(command, url, tasks):
    """Tasks/s from standard input to confirmed, whole process included;
    command(url, queue) starts the publisher."""
    queue = new_queue(url)
    lines = "".join(f"task {n}\n" for n in range(tasks)).encode()
    started = time.perf_counter()
    subprocess.run(command(url, queue), input=lines, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    with Publisher(url, queue) as publisher:
        if publisher.ready() != tasks:
            raise RuntimeError(f"{command(url, queue)}: {publisher.ready()} of {tasks} tasks queued")
        publisher.delete()
    return tasks / elapsed


def new_task_breakdown(kind, url, queue):
    """The steps of one call, replayed in-process, in ms; imports in a process of their own."""
    imports = "import argparse, pika, workqueue" if kind == OURS else "import pika"
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", imports], check=True, cwd=ROOT)
    steps = {"interpreter + imports": time.perf_counter() - started}
    t = time.perf_counter()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    steps["connect"], t = time.perf_counter() - t, time.perf_counter()
    channel.queue_declare(queue, durable=True)
    steps["declare"], t = time.perf_counter() - t, time.perf_counter()
    if kind == OURS:
        channel.confirm_delivery()
    channel.basic_publish("", queue, b"x", pika.BasicProperties(delivery_mode=2), mandatory=kind == OURS)
    steps["publish (+ confirm)"], t = time.perf_counter() - t, time.perf_counter()
    connection.close()
    steps["close"] = time.perf_counter() - t
    return {step: seconds * 1000 for step, seconds in steps.items()}


def worker_memory(kind, url, tasks):
    """RSS in MiB after start and after `tasks` zero-dot tasks."""
    queue = new_queue(url)
    (worker,) = start_workers(kind, url, queue)
    at_start = worker.rss_kib() / 1024
    with Publisher(url, queue) as publisher:
        publisher.publish(f"task {n}" for n in range(tasks))
        worker.wait(" [x] Done", tasks, timeout=600)
        after = worker.rss_kib() / 1024
        worker.stop()
        publisher.delete()
    return at_start, after


def alternate(rounds, measure, kinds=(OURS, REFERENCE)):
    """Run measure(kind) for each kind in turn, `rounds` times each."""
    results = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind in kinds:
            results[kind].append(measure(kind))
    return results


def spread(values):
    """'median (min–max)', rounded."""
    values = sorted(values)
    return f"{statistics.median(values):.0f} ({values[0]:.0f}–{values[-1]:.0f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this broker instead of starting a private one")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    args = parser.parse_args()
    sizes = dict(rounds=5, drain=3000, overhead=20, calls=20, memory=10_000, scale=12, fair=[4, 1] * 3,
                 input=10_000)
    if args.smoke:
        sizes = dict(rounds=1, drain=20, overhead=2, calls=2, memory=50, scale=2, fair=[1, 0] * 2, input=20)

    on_broker(args.url, lambda url: report(url, sizes, args.smoke))


def on_broker(url, run):
    """run(url) on the broker at url, or, without one, on a private broker
    started the way the tests start theirs (TEST_BROKER chooses)."""
    if url is not None:
        return run(url)
    with tempfile.TemporaryDirectory(prefix="bench-rabbitmq-") as folder:
        try:
            broker = own_broker(folder)
        except NoBroker as reason:
            sys.exit(f"{Path(sys.argv[0]).name}: {reason} Or give --url.")
        try:
            return run(broker.start().url)
        finally:
            broker.remove()


def report(url, sizes, smoke):
    rounds = sizes["rounds"]
    rows = []

    def row(name, ours, reference="", ratio="", target=""):
        if smoke and target:
            target = "(smoke run: not a measurement)"
        rows.append((name, ours, reference, ratio, target))
        print(f"{name}: {ours} | {reference} | {ratio}", file=sys.stderr, flush=True)

    by_prefetch, skipped = {}, None
    for prefetch in DRAIN_PREFETCHES:
        by_prefetch[prefetch], skipped = drain_consumers(prefetch)
    if skipped:
        print(skipped, file=sys.stderr, flush=True)
    every = [consumer for consumers in by_prefetch.values() for consumer in consumers]  # a round: each prefetch in turn
    rates = alternate(rounds, lambda consumer: drain_rate(consumer.command, url, sizes["drain"]), every)
    for prefetch, consumers in by_prefetch.items():
        ours, floor = (statistics.median(rates[c]) for c in consumers[:2])
        if prefetch == 1:
            name = f"1. drain rate, {sizes['drain']} zero-dot tasks, 1 worker, prefetch 1 (tasks/s); " \
                   f"reference: {FLOOR}"
        else:
            name = f"1. … prefetch {prefetch} (--prefetch {prefetch}); reference: pika's floor at qos {prefetch}"
        row(name, spread(rates[consumers[0]]), spread(rates[consumers[1]]), f"{ours / floor:.2f}×",
            consumers[0].target)
        at = "" if prefetch == 1 else f"prefetch {prefetch}: "
        for consumer in consumers[2:]:
            rate = statistics.median(rates[consumer])
            if consumer.ours:
                row(f"1. … {at}{consumer.label}", spread(rates[consumer]), "", f"{rate / floor:.2f}× the floor",
                    consumer.target)
            else:
                row(f"1. … {at}{consumer.label}", "", spread(rates[consumer]),
                    f"{rate / floor:.2f}× the floor; ours {ours / rate:.2f}× it", consumer.target)

    handoff = json.loads(subprocess.run([PYTHON, BENCH / "thread_handoff.py"], check=True, capture_output=True,
                                        text=True).stdout)
    row("1. … a task handed to another thread and back, alone: what ours does not pay (bench/thread_handoff.py)",
        f"{handoff['any CPU']:.1f} µs on any CPU", "", "" if handoff["one CPU"] is None else
        f"{handoff['one CPU']:.1f} µs with both threads on one CPU")

    overhead = {kind: task_overhead(kind, url, sizes["overhead"]) for kind in (OURS, REFERENCE)}
    row("2a. one-dot task: (Done − Received) − 1 s, median",
        f"{overhead[OURS][0] * 1000:.2f} ms", f"{overhead[REFERENCE][0] * 1000:.2f} ms", "", "≤ 5 ms")
    row("2b. confirmed publish → Received, median",
        f"{overhead[OURS][1] * 1000:.2f} ms", f"{overhead[REFERENCE][1] * 1000:.2f} ms", "", "≤ 5 ms")

    dots = sizes["fair"]
    bound = max(sum(dots) / 2, max(dots))
    for prefetch in ("1", "0"):
        span = makespan(url, dots, 2, "--prefetch", prefetch)
        row(f"3. fair dispatch, dots {dots}, 2 workers, prefetch {prefetch}: makespan",
            f"{span:.2f} s", "", f"{span / bound:.2f}× the bound {bound:g} s",
            "close to the bound" if prefetch == "1" else "round-robin")

    one = makespan(url, [1] * sizes["scale"], 1)
    for workers in (2, 4):
        span = makespan(url, [1] * sizes["scale"], workers)
        row(f"4. scale-out, {sizes['scale']} one-dot tasks, {workers} workers: speed-up over 1",
            f"{one / span:.2f}×", "", f"{one / span / workers:.2f} per worker", "≥ 0.9 per worker")

    queue = new_queue(url)
    walls = alternate(sizes["calls"], lambda kind: new_task_wall(kind, url, queue))
    ratio = statistics.median(walls[OURS]) / statistics.median(walls[REFERENCE])
    row("5. new_task.py per call, as a process (ms)",
        spread([w * 1000 for w in walls[OURS]]), spread([w * 1000 for w in walls[REFERENCE]]),
        f"{ratio:.2f}×", "≤ 1.2×")
    parts = {kind: [new_task_breakdown(kind, url, queue) for _ in range(rounds)] for kind in (OURS, REFERENCE)}
    for step in parts[OURS][0]:
        mine = statistics.median(p[step] for p in parts[OURS])
        theirs = statistics.median(p[step] for p in parts[REFERENCE])
        row(f"5. … {step}", f"{mine:.1f} ms", f"{theirs:.1f} ms")
    with Publisher(url, queue) as publisher:
        publisher.delete()

    rates = alternate(rounds, lambda kind: input_rate(
        lambda url, queue: stdin_publisher_command(kind, url, queue), url, sizes["input"]), (OURS, MINIMAL, ONE_BY_ONE))
    ours, minimal, one_by_one = (statistics.median(rates[kind]) for kind in (OURS, MINIMAL, ONE_BY_ONE))
    row(f"7. {sizes['input']} tasks from standard input, confirmed, one process (tasks/s); reference: "
        "pipelined, new_task.py's window (bench/minimal_publisher.py)",
        spread(rates[OURS]), spread(rates[MINIMAL]), f"{ours / minimal:.2f}×", "≥ 0.9×")
    row("7. … one confirm at a time, blocking (bench/reference_publisher.py)",
        "", spread(rates[ONE_BY_ONE]), f"ours {ours / one_by_one:.2f}× it")

    memory = {kind: worker_memory(kind, url, sizes["memory"]) for kind in (OURS, REFERENCE)}
    row(f"6. worker RSS after start → after {sizes['memory']} tasks",
        "{:.1f} → {:.1f} MiB".format(*memory[OURS]), "{:.1f} → {:.1f} MiB".format(*memory[REFERENCE]),
        "", "≤ 40 MiB, flat")

    if smoke:
        print("\nSMOKE RUN: tiny sizes, to check that the benchmark runs; its figures mean nothing.")
    print(f"\nMachine: {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}, pika {pika.__version__}, RabbitMQ {rabbitmq_version(url)}\n")
    print("The reference is the tutorial's scripts (tests/tutorial_client.py) unless the measure names another.")
    print(f"{skipped}\n" if skipped else "")
    print("| measure | ours | reference | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def rabbitmq_version(url):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    version = connection._impl.server_properties.get("version", b"?")
    connection.close()
    return version.decode() if isinstance(version, bytes) else version


if __name__ == "__main__":
    main()
