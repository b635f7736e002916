#!/usr/bin/env python3
"""REFERENCE, not the product: what handing each task from the thread that
runs pika's I/O loop to another thread, and its outcome back, would cost by
itself (bench/bench.py, measure 1). The worker did so until the tasks
thread came to run the loop between tasks (workqueue/tasks.py): two wake-ups
of a waiting thread a task (SimpleQueue, Event.wait with a timeout).
Measured with the two threads free to run on any CPU, then both on one CPU
(Linux only: os.sched_setaffinity), where no wake-up crosses CPUs.

    thread_handoff.py        # prints {"any CPU": µs, "one CPU": µs or null}
"""
import json
import os
import queue
import threading
import time

ROUND_TRIPS = 20_000


def round_trip_us():
    tasks, outcome = queue.SimpleQueue(), threading.Event()

    def task_thread():
        while tasks.get() is not None:
            outcome.set()

    thread = threading.Thread(target=task_thread)
    thread.start()
    for _warm_up in range(100):
        outcome.clear(), tasks.put(1), outcome.wait(1)
    started = time.perf_counter()
    for _ in range(ROUND_TRIPS):
        outcome.clear()
        tasks.put(1)
        outcome.wait(1)
    elapsed = time.perf_counter() - started
    tasks.put(None)
    thread.join()
    return round(elapsed / ROUND_TRIPS * 1e6, 1)


figures = {"any CPU": round_trip_us(), "one CPU": None}
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # this thread, and the one it starts next
    figures["one CPU"] = round_trip_us()
print(json.dumps(figures))
