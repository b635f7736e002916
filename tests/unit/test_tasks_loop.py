"""workqueue/tasks.py: who runs pika's I/O loop (a real one, without a
connection). The tasks thread runs it between tasks and does a short task
itself, waking no other thread; while a task runs long, the main thread runs
the loop (heartbeats, signals), and hands it back after."""

import threading
import time

import pytest
from pika.adapters.select_connection import IOLoop

import collections

from workqueue.tasks import TAKE_OVER, Tasks


class Queue:
    """Tasks taken, as the worker's life hands them out (next_task)."""

    def __init__(self):
        self.waiting = collections.deque()

    def put(self, task):
        self.waiting.append(task)

    def take(self):
        return self.waiting.popleft() if self.waiting else None


def task(body):
    return body


def thread():
    return threading.current_thread().name


def loop():
    ioloop = IOLoop()
    ioloop.activate_poller()  # as the connection does
    return ioloop


def run(tasks, ioloop, deadline=10):
    """tasks.run() until the test ends it, within a deadline."""
    late = []
    ioloop.call_later(deadline, lambda: (late.append(True), tasks.end()))
    tasks.run()
    assert not late, f"not over within {deadline} s"


def test_a_short_task_is_taken_done_and_finished_by_the_tasks_thread_alone():
    ioloop, queue = loop(), Queue()
    seen = []
    tasks = Tasks(ioloop, queue.take, lambda t: seen.append(("do", thread())),
                  lambda t, outcome: (seen.append(("finished", thread(), outcome)), tasks.end()))
    ioloop.call_later(0, lambda: (seen.append(("put", thread())), queue.put(task(b"x"))))
    run(tasks, ioloop)
    assert seen == [("put", "tasks"), ("do", "tasks"), ("finished", "tasks", None)]


def test_while_a_task_runs_long_the_main_thread_runs_the_loop_and_hands_it_back():
    ioloop, queue = loop(), Queue()
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

    tasks = Tasks(ioloop, queue.take, do, finished)
    ioloop.call_later(0, lambda: queue.put(task(b"long")))
    ioloop.call_later(0, tick)
    run(tasks, ioloop)
    during = [name for name, busy in ticks if busy is True]
    assert during and set(during) == {"MainThread"}  # the loop ran meanwhile, on the main thread
    after = ticks[ticks.index(("finished on tasks", None)) + 1:]
    assert after and {name for name, _busy in after} == {"tasks"}  # and back


def test_what_the_work_comes_to_is_finished_with_it():
    ioloop, queue = loop(), Queue()
    outcomes = []
    tasks = Tasks(ioloop, queue.take, lambda t: f"outcome of {t}", lambda t, outcome: (outcomes.append(outcome), tasks.end()))
    ioloop.call_later(0, lambda: queue.put("x"))
    run(tasks, ioloop)
    assert outcomes == ["outcome of x"]


def test_an_exception_out_of_the_loop_on_the_tasks_thread_is_raised_on_the_main_thread():
    ioloop = loop()
    tasks = Tasks(ioloop, lambda: None, None, None)
    ioloop.call_later(0, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(tasks, ioloop)


def test_tasks_taken_together_are_done_one_after_the_other_without_waiting_for_the_loop():
    """With nothing to ack (--no-ack) the loop has no event to wake it: the
    tasks thread must not wait in poll() while a task is waiting."""
    ioloop, queue = loop(), Queue()
    started = []

    def finished(_task, _outcome):
        if len(started) == 3:
            tasks.end()

    tasks = Tasks(ioloop, queue.take, lambda t: started.append(time.monotonic()), finished)
    ioloop.call_later(0, lambda: [queue.put(task(body)) for body in (b"a", b"b", b"c")])
    run(tasks, ioloop)
    assert started[-1] - started[0] < 0.5  # not a poll's wait (seconds) between them


def test_tasks_taken_together_are_done_without_a_turn_of_the_loop_between_them():
    """Their acks go out together at the next turn: no poll() a task (at
    prefetch 50 that turn cost a third of the worker's time)."""
    ioloop, queue = loop(), Queue()
    polls, done = [], []
    real_poll = ioloop.poll
    ioloop.poll = lambda: (polls.append(len(done)), real_poll())

    def finished(t, _outcome):
        done.append(t)
        if len(done) == 50:
            tasks.end()

    tasks = Tasks(ioloop, queue.take, lambda t: None, finished)
    ioloop.call_later(0, lambda: [queue.put(n) for n in range(50)])
    run(tasks, ioloop)
    assert len(polls) < 10, polls
