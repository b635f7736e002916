#!/usr/bin/env python3
"""Another checkout of the pair against this one, same broker, same run: the
drain rate (zero-dot tasks, prefetch 1) and new_task.py's cost per call, the
two figures a change that should not change behaviour must keep.

    git worktree add /tmp/before <commit>
    python bench/compare.py /tmp/before        # a minute or so
"""

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from bench import PYTHON, ROOT, TUTORIAL_CLIENT, drain_rate, new_queue, on_broker, spread


def per_call_ms(command, calls):
    """new_task.py's median wall time, as a process, in ms."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def compare(url, checkouts, sizes):
    queue = new_queue(url)
    drains = {name: [] for name in checkouts}
    calls = {name: [] for name in [*checkouts, "the tutorial's"]}
    for _ in range(sizes["rounds"]):  # alternating, so that the machine's moods fall on both
        for name, root in checkouts.items():
            drains[name].append(drain_rate(
                lambda url, queue, root=root: [PYTHON, root / "worker.py", "--url", url, "--queue", queue],
                url, sizes["drain"]))
            calls[name].append(per_call_ms(
                [PYTHON, root / "new_task.py", "--url", url, "--queue", queue, "x"], sizes["calls"]))
        calls["the tutorial's"].append(per_call_ms(
            [PYTHON, TUTORIAL_CLIENT, "send", url, queue, "classic", "x"], sizes["calls"]))
    (other, this) = checkouts
    print(f"drain, {sizes['drain']} zero-dot tasks (tasks/s), medians of {sizes['rounds']} rounds:")
    for name in checkouts:
        print(f"  {name}: {spread(drains[name])}")
    print(f"  this / other: {statistics.median(drains[this]) / statistics.median(drains[other]):.2f}×")
    print(f"new_task.py per call, as a process (ms), medians of {sizes['calls']} calls a round:")
    for name in calls:
        print(f"  {name}: {spread(calls[name])}")
    print(f"  this / other: {statistics.median(calls[this]) / statistics.median(calls[other]):.2f}×")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout's folder (with worker.py and new_task.py)")
    parser.add_argument("--url", help="use this broker instead of starting a private one")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    args = parser.parse_args()
    sizes = dict(rounds=1, drain=20, calls=2) if args.smoke else dict(rounds=5, drain=3000, calls=20)
    checkouts = {f"other ({args.other})": args.other.resolve(), f"this ({ROOT})": ROOT}
    on_broker(args.url, lambda url: compare(url, checkouts, sizes))


if __name__ == "__main__":
    main()
