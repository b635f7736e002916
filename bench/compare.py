#!/usr/bin/env python3
"""Another checkout of the pair against this one, same broker, same run: the
drain rate (zero-dot tasks, each acked alone, at prefetch 1 and 50),
new_task.py's cost per call, and its rate from standard input
(seq N | new_task.py -): the figures a change that should not change
behaviour must keep.

    git worktree add /tmp/before <commit>
    python bench/compare.py /tmp/before        # a few minutes
"""

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from bench import PYTHON, ROOT, TUTORIAL_CLIENT, drain_rate, input_rate, new_queue, on_broker, prefetch_options, spread

DRAIN_PREFETCHES = (1, 50)
PER_CALL = "new_task.py per call, as a process (ms)"


def per_call_ms(command, calls):
    """new_task.py's median wall time, as a process, in ms."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measures(url, queue, sizes):
    """Each figure's heading, and measure(root): the figure for the checkout in folder root."""
    def worker(root, prefetch):
        return lambda url, queue: [PYTHON, root / "worker.py", "--url", url, "--queue", queue,
                                   *prefetch_options(prefetch)]

    def new_task(root, *task):
        return [PYTHON, root / "new_task.py", "--url", url, "--queue", queue, *task]

    figures = {}
    for prefetch in DRAIN_PREFETCHES:
        heading = (f"drain at prefetch {prefetch}, {sizes['drain']} zero-dot tasks (tasks/s), "
                   f"medians of {sizes['rounds']} rounds")
        figures[heading] = lambda root, prefetch=prefetch: drain_rate(worker(root, prefetch), url, sizes["drain"])
    figures[PER_CALL + f", medians of {sizes['calls']} calls a round"] = \
        lambda root: per_call_ms(new_task(root, "x"), sizes["calls"])
    figures[f"new_task.py -, {sizes['input']} tasks from standard input, confirmed, whole process (tasks/s), "
            f"medians of {sizes['rounds']} rounds"] = \
        lambda root: input_rate(lambda url, queue: [PYTHON, root / "new_task.py", "--url", url, "--queue", queue, "-"],
                                url, sizes["input"])
    return figures


def compare(url, checkouts, sizes):
    queue = new_queue(url)
    figures = measures(url, queue, sizes)
    results = {heading: {name: [] for name in checkouts} for heading in figures}
    tutorial_calls = []
    for _ in range(sizes["rounds"]):  # alternating, so that the machine's moods fall on both
        for heading, measure in figures.items():
            for name, root in checkouts.items():
                results[heading][name].append(measure(root))
            if heading.startswith(PER_CALL):
                tutorial_calls.append(per_call_ms([PYTHON, TUTORIAL_CLIENT, "send", url, queue, "classic", "x"],
                                                  sizes["calls"]))
    (other, this) = checkouts
    for heading, values in results.items():
        print(f"{heading}:")
        for name in checkouts:
            print(f"  {name}: {spread(values[name])}")
        if heading.startswith(PER_CALL):
            print(f"  the tutorial's: {spread(tutorial_calls)}")
        print(f"  this / other: {statistics.median(values[this]) / statistics.median(values[other]):.2f}×")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout's folder (with worker.py and new_task.py)")
    parser.add_argument("--url", help="use this broker instead of starting a private one")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds (default 5); more on a busy machine, whose noise exceeds 5 %%")
    args = parser.parse_args()
    sizes = dict(rounds=1, drain=20, calls=2, input=20) if args.smoke else \
        dict(rounds=args.rounds, drain=3000, calls=20, input=10_000)
    checkouts = {f"other ({args.other})": args.other.resolve(), f"this ({ROOT})": ROOT}
    on_broker(args.url, lambda url: compare(url, checkouts, sizes))


if __name__ == "__main__":
    main()
