#!/usr/bin/env python3
"""Fair dispatch as a picture: who worked on what, when, at prefetch 1 and 0.

    python bench/fair_dispatch_picture.py docs/fair-dispatch.png
    python bench/fair_dispatch_picture.py --smoke out.png   # tiny: checks it runs

The tutorial's heavy and light tasks (dots [4, 1, 4, 1, 4, 1]) over two of our
workers, run the way the benchmark's measure 3 runs them; each bar goes from a
worker's " [x] Received" line to its " [x] Done", timed as the line arrives.
Without --url it starts a private broker the way the tests do.
"""

import argparse
import sys

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402

from bench import on_broker, run_tasks  # noqa: E402  (measure 3's run)

RECEIVED = " [x] Received "
RUNS = [("1", "prefetch 1 (the default): fair dispatch"), ("0", "prefetch 0: round-robin")]
HEAVY = dict(facecolor="#3b6ea8", hatch="///", edgecolor="black")
LIGHT = dict(facecolor="#f2c14e", hatch="", edgecolor="black")


def timelines(url, dots, prefetch):
    """Per worker, its tasks as (task, received, done), seconds from the run's first Received."""
    _, workers = run_tasks(url, dots, 2, "--prefetch", prefetch)
    rows = []
    for worker in workers:
        tasks = []
        for t, line in worker.lines:
            if line.startswith(RECEIVED):
                task, received = line[len(RECEIVED):].strip("'"), t
            elif line == " [x] Done":
                tasks.append((task, received, t))
        rows.append(tasks)
    first = min(received for tasks in rows for _, received, _ in tasks)
    return [[(task, r - first, d - first) for task, r, d in tasks] for tasks in rows]


def makespan(rows):
    return max(done for tasks in rows for _, _, done in tasks)


def draw(runs, dots, path):
    heavy_dots = max(dots)
    figure, axes = plt.subplots(len(runs), 1, figsize=(8, 4.4), dpi=100, sharex=True)
    for ax, (title, rows) in zip(axes, runs):
        span = makespan(rows)
        for row, tasks in enumerate(rows):
            for task, received, done in tasks:
                style = HEAVY if task.count(".") == heavy_dots else LIGHT
                ax.barh(row, done - received, left=received, height=0.6, linewidth=0.8, **style)
                ax.text((received + done) / 2, row, task, ha="center", va="center", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
        ax.axvline(span, color="black", linestyle="--", linewidth=1)
        ax.text(span - 0.1, -0.5, f"makespan {span:.1f} s", ha="right", va="center", fontsize=9,
                fontweight="bold")
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
        ax.set_yticks(range(len(rows)), [f"worker {n}" for n in range(1, len(rows) + 1)])
        ax.set_ylim(len(rows) - 0.4, -0.7)  # worker 1 on top, room for the makespan
        ax.grid(axis="x", color="#dddddd")
        ax.set_axisbelow(True)
    end = max(makespan(rows) for _, rows in runs)
    axes[-1].set_xlim(0, end + 0.3)
    axes[-1].set_xticks(range(int(end) + 1))
    axes[-1].set_xlabel("seconds from the first Received")
    light_dots = min(dots)
    handles = [plt.Rectangle((0, 0), 1, 1, **HEAVY), plt.Rectangle((0, 0), 1, 1, **LIGHT)]
    figure.legend(handles, [f"heavy task: {heavy_dots} dots, {heavy_dots} s",
                            f"light task: {light_dots} dot{'s' * (light_dots != 1)}, {light_dots} s"],
                  loc="upper right", ncol=2, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", help="where to write the picture")
    parser.add_argument("--url", help="use this broker instead of starting a private one")
    parser.add_argument("--smoke", action="store_true", help="tiny tasks: check that it runs")
    args = parser.parse_args()
    dots = [1, 0] if args.smoke else [4, 1] * 3

    def measure(url):
        return [(title, timelines(url, dots, prefetch)) for prefetch, title in RUNS]

    runs = on_broker(args.url, measure)
    for title, rows in runs:
        print(f"{title}: makespan {makespan(rows):.2f} s (first Received to last Done), dots {dots}")
    draw(runs, dots, args.png)
    print(f"wrote {args.png}" + (" (smoke run: its figures mean nothing)" if args.smoke else ""))


if __name__ == "__main__":
    sys.exit(main())
