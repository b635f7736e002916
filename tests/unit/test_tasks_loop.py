"""workqueue/tasks.py: who runs pika's I/O loop (a real one, without a
connection). The tasks thread runs it between tasks and does a short task
itself, waking no other thread; while a task runs long, the main thread runs
the loop (heartbeats, signals), and hands it back after."""

import threading
import time

import pytest
from pika.adapters.select_connection import IOLoop

from workqueue.tasks import TAKE_OVER, Task, Tasks


def task(body):
    return Task(body, None, "", None, 1)


def thread():
    return threading.current_thread().name


def run(tasks, ioloop, deadline=10):
    """tasks.run() until the test ends it, within a deadline."""
    late = []
    ioloop.call_later(deadline, lambda: (late.append(True), tasks.end()))
    tasks.run()
    assert not late, f"not over within {deadline} s"


def test_a_short_task_is_taken_done_and_finished_by_the_tasks_thread_alone():
    ioloop = IOLoop()
    seen = []
    tasks = Tasks(ioloop, lambda t: seen.append(("do", thread())),
                  lambda t, outcome: (seen.append(("finished", thread(), outcome)), tasks.end()), None)
    ioloop.call_later(0, lambda: (seen.append(("put", thread())), tasks.put(task(b"x"))))
    run(tasks, ioloop)
    assert seen == [("put", "tasks"), ("do", "tasks"), ("finished", "tasks", None)]


def test_while_a_task_runs_long_the_main_thread_runs_the_loop_and_hands_it_back():
    ioloop = IOLoop()
    ticks = []  # (thread, task running) of each turn of a timer every 10 ms
    running = threading.Event()

    def tick():
        ticks.append((thread(), running.is_set()))
        ioloop.call_later(0.01, tick)

    def do(_task):
        running.set()
        time.sleep(TAKE_OVER * 6)
        running.clear()

    def finished(_task, outcome):
        ticks.append(("finished on " + thread(), outcome))
        ioloop.call_later(0.1, tasks.end)  # a few more ticks after

    tasks = Tasks(ioloop, do, finished, None)
    ioloop.call_later(0, lambda: tasks.put(task(b"long")))
    ioloop.call_later(0, tick)
    run(tasks, ioloop)
    during = [name for name, busy in ticks if busy is True]
    assert during and set(during) == {"MainThread"}  # the loop ran meanwhile, on the main thread
    after = ticks[ticks.index(("finished on tasks", None)) + 1:]
    assert after and {name for name, _busy in after} == {"tasks"}  # and back


def test_a_failing_task_is_finished_with_its_exception():
    ioloop = IOLoop()
    outcomes = []

    def do(_task):
        raise RuntimeError("could not resize the image")

    tasks = Tasks(ioloop, do, lambda t, outcome: (outcomes.append(outcome), tasks.end()), None)
    ioloop.call_later(0, lambda: tasks.put(task(b"x")))
    run(tasks, ioloop)
    [outcome] = outcomes
    assert isinstance(outcome, RuntimeError) and str(outcome) == "could not resize the image"


def test_an_exception_out_of_the_loop_on_the_tasks_thread_is_raised_on_the_main_thread():
    ioloop = IOLoop()
    tasks = Tasks(ioloop, None, None, None)
    ioloop.call_later(0, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(tasks, ioloop)


def test_tasks_taken_together_are_done_one_after_the_other_without_waiting_for_the_loop():
    """With nothing to ack (--no-ack) the loop has no event to wake it: the
    tasks thread must not wait in poll() while a task is waiting."""
    ioloop = IOLoop()
    started = []

    def finished(_task, _outcome):
        if len(started) == 3:
            tasks.end()

    tasks = Tasks(ioloop, lambda t: started.append(time.monotonic()), finished, None)
    ioloop.call_later(0, lambda: [tasks.put(task(body)) for body in (b"a", b"b", b"c")])
    run(tasks, ioloop)
    assert started[-1] - started[0] < 0.5  # not a poll's wait (seconds) between them
