"""Who runs pika's I/O loop while the worker does its tasks. The tasks
thread does every task, one at a time, and runs the I/O loop between them:
a task that arrives is done by the thread that received it, with no
wake-up of another thread (on a virtual machine that costs more than a
short task: docs/benchmarks.md). While a task runs longer than TAKE_OVER,
the main thread runs the I/O loop instead, so that heartbeats, signals and
time limits are answered however long a task takes; it hands the loop back
when the task is over. One thread at a time runs pika's code."""

import threading
import time

# How long a task runs before the main thread takes over the I/O loop, and
# how often the main thread looks (signals are acted on at that pace too:
# signals.TICK). Heartbeats come every few seconds at the most.
TAKE_OVER = 0.2
# Tasks that come one after another are done without a turn of the I/O loop
# between them (their acks go out together, at the next turn); but a turn
# at least this often, for the timers and signals.
TURN_AT_LEAST_EVERY = 0.01  # s


class Tasks:
    """take() on the I/O loop: the next task, or None; do(task) on the tasks
    thread: its outcome; then finished(task, outcome), with the I/O loop in
    hand."""

    def __init__(self, ioloop, take, do, finished):
        self._ioloop = ioloop
        self._take, self._do, self._finished = take, do, finished
        self._next = None  # the task taken, about to be done
        self._turned_at = 0.0  # when the tasks thread last ran a turn of the loop
        self._thread = threading.Thread(target=self._run, name="tasks", daemon=True)
        # Who runs the I/O loop; guarded by _turns.
        self._turns = threading.Condition()
        self._loop_runner = self._thread  # the tasks thread, the main thread, or None: a task runs, no one
        self._task_started = None  # when the running task started (None: none runs)
        self._loop_wanted_back = False  # the tasks thread waits for the main thread to hand the loop back
        self._over = False  # nobody runs the loop again
        self._crash = None  # an exception out of the tasks thread's turn of the loop: raised on the main thread

    def run(self):
        """On the main thread: start the tasks thread, then run the I/O loop
        whenever a task runs long, until end() is called."""
        main = threading.current_thread()
        self._thread.start()
        while True:
            with self._turns:
                self._turns.wait(TAKE_OVER)
                if self._over:
                    break
                started = self._task_started
                if self._loop_runner is not None or started is None or time.monotonic() - started < TAKE_OVER:
                    continue
                self._loop_runner = main
            self._run_loop(lambda: self._loop_wanted_back)
            with self._turns:
                if self._over:
                    break
                self._loop_runner, self._loop_wanted_back = self._thread, False  # back to the tasks thread
                self._turns.notify_all()
        if self._crash is not None:
            raise self._crash

    def end(self):
        """With the I/O loop in hand: the loop stops, for good."""
        with self._turns:
            self._over = True
            self._turns.notify_all()

    def _run_loop(self, until):
        """Turns of the I/O loop, at least one, until until() or the end."""
        self._turned_at = time.monotonic()
        while True:
            self._ioloop.poll()
            self._ioloop.process_timeouts()
            if self._over or until():
                return

    def _run(self):
        try:
            self._take_tasks()
        except BaseException as exc:  # a bug of ours: as if out of ioloop.start() on the main thread
            with self._turns:
                self._crash, self._over = exc, True
                self._turns.notify_all()

    def _taken(self):
        self._next = self._take()
        return self._next is not None

    def _take_tasks(self):
        """The tasks thread: the I/O loop until a task is taken, the task,
        its outcome; and again."""
        while True:
            if time.monotonic() - self._turned_at > TURN_AT_LEAST_EVERY:
                self._ioloop.call_later(0, _nothing)  # a turn that does not wait, before the next task is taken
                self._run_loop(lambda: True)
            if not self._taken():
                self._run_loop(self._taken)
            if self._over:
                return
            task, self._next = self._next, None
            with self._turns:
                self._loop_runner, self._task_started = None, time.monotonic()
            outcome = self._do(task)
            if not self._have_loop_back():
                return
            self._finished(task, outcome)

    def _have_loop_back(self):
        """The task is over: the I/O loop back to the tasks thread, from the
        main thread if it took it over. False if the loop is over."""
        with self._turns:
            self._task_started = None
            if self._loop_runner is None:
                self._loop_runner = self._thread
                return not self._over
            self._loop_wanted_back = True
            self._ioloop.add_callback_threadsafe(_nothing)  # out of its poll(), to see it is wanted
            self._turns.wait_for(lambda: self._loop_runner is self._thread or self._over)
            return not self._over


def _nothing():
    pass
