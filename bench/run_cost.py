#!/usr/bin/env python3
"""What a process a task costs: the default worker against `--run true` and
`--run 'python -c pass'`, draining tasks already queued, on a private broker
(or --url), rounds alternating (docs/benchmarks.md, "A command a task").

    python bench/run_cost.py [--rounds 3] [--url URL]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pika

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from brokers import own_broker  # noqa: E402  (the tests' broker)

KINDS = {  # name: (tasks, worker options)
    "default worker": (3000, []),
    "--run true": (500, ["--run", shutil.which("true") or "true"]),
    "--run 'python -c pass'": (300, ["--run", f"{sys.executable} -c pass"]),
}


def publish(url, queue, count):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    for _ in range(count):
        channel.basic_publish("", queue, b"task", pika.BasicProperties(delivery_mode=2))
    connection.close()


def drain(url, count, options):
    """Seconds from the worker's Waiting line to its count-th Done."""
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    publish(url, queue, count)
    worker = subprocess.Popen([sys.executable, ROOT / "worker.py", "--url", url, "--queue", queue, *options],
                              stdout=subprocess.PIPE, text=True)
    done, started = 0, None
    try:
        for line in worker.stdout:
            if line.startswith(" [*] Waiting"):
                started = time.monotonic()
            elif line == " [x] Done\n":
                done += 1
                if done == count:
                    return time.monotonic() - started
        raise RuntimeError(f"the worker stopped after {done} of {count} tasks")
    finally:
        worker.kill()
        worker.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this broker instead of starting a private one")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    broker = None
    if args.url is None:
        broker = own_broker(Path(tempfile.mkdtemp()))
        broker.start()
    try:
        url = args.url or broker.url
        for round_ in range(1, args.rounds + 1):
            for name, (count, options) in KINDS.items():
                took = drain(url, count, options)
                print(f"round {round_}: {name}: {count / took:.0f} tasks/s, {took / count * 1000:.2f} ms a task",
                      flush=True)
    finally:
        if broker is not None:
            broker.remove()


if __name__ == "__main__":
    main()
