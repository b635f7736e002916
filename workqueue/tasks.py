"""The tasks a worker holds, and who runs pika's I/O loop. The tasks
thread does every task, one at a time, and runs the I/O loop between them:
a task that arrives is done by the thread that received it, with no
wake-up of another thread (on a virtual machine that costs more than a
short task: docs/benchmarks.md). While a task runs longer than TAKE_OVER,
the main thread runs the I/O loop instead, so that heartbeats, signals and
time limits are answered however long a task takes; it hands the loop back
when the task is over. One thread at a time runs pika's code."""

import collections
import threading
import time

from workqueue.output import OutputLost

SKIPPED = "skipped"  # the outcome of a task whose channel closed before it started
# How long a task runs before the main thread takes over the I/O loop, and
# how often the main thread looks (signals are acted on at that pace too:
# signals.TICK). Heartbeats come every few seconds at the most.
TAKE_OVER = 0.2


class Task:
    """A delivery: its body and properties (a failed task's copy keeps them),
    the note on a redelivery, and where to ack it (channel None: --no-ack,
    nothing to ack). `over`: its outcome is known (the worker may know it
    before the thread does: a Python work() past its time limit)."""

    __slots__ = ("body", "properties", "note", "channel", "delivery_tag", "over")

    def __init__(self, body, properties, note, channel, delivery_tag):
        self.body, self.properties, self.note = body, properties, note
        self.channel, self.delivery_tag = channel, delivery_tag
        self.over = False


def redelivery_note(method, properties):
    """' (redelivered)', with the delivery's number where the queue counts them."""
    if not method.redelivered:
        return ""
    earlier = (properties.headers or {}).get("x-delivery-count")  # quorum queues
    return f" (redelivered, delivery {earlier + 1})" if earlier else " (redelivered)"


class Tasks:
    """do(task) on the tasks thread; then finished(task, outcome), with the
    I/O loop in hand: None when done, the exception when it failed, SKIPPED
    when its channel had closed (the broker gives it out again). The task is
    in hand until the worker calls settled(task). If the output is gone,
    output_lost(exc) instead, and no task is started after."""

    def __init__(self, ioloop, do, finished, output_lost):
        self.in_hand = 0  # tasks taken and not finished
        self.taken = 0  # every task taken, for the cut-off watch
        self.busy_since = None  # when it last took a task with none in hand
        self._ioloop = ioloop
        self._do, self._finished, self._output_lost = do, finished, output_lost
        self._waiting = collections.deque()  # taken, not started
        self._thread = threading.Thread(target=self._run, name="tasks", daemon=True)
        # Who runs the I/O loop; guarded by _turns.
        self._turns = threading.Condition()
        self._loop_runner = self._thread  # the tasks thread, the main thread, or None: a task runs, no one
        self._task_started = None  # when the running task started (None: none runs)
        self._loop_wanted_back = False  # the tasks thread waits for the main thread to hand the loop back
        self._over = False  # the worker has left: nobody runs the loop again
        self._crash = None  # an exception out of the tasks thread's turn of the loop: raised on the main thread

    def run(self):
        """On the main thread: start the tasks thread, then run the I/O loop
        whenever a task runs long, until end() is called."""
        main = threading.current_thread()
        self._ioloop.activate_poller()
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
        """With the I/O loop in hand: the worker leaves; the loop stops."""
        with self._turns:
            self._over = True
            self._turns.notify_all()

    def put(self, task):
        """On the I/O loop: a task taken, done once its turn comes."""
        self.taken += 1
        self.in_hand += 1
        if self.in_hand == 1:
            self.busy_since = time.monotonic()
        self._waiting.append(task)

    def take_back_waiting(self):
        """On the I/O loop: the tasks not started yet."""
        taken = list(self._waiting)
        self._waiting.clear()
        self.in_hand -= len(taken)
        return taken

    def settled(self, task):
        """On the I/O loop: the worker is done with `task` (acked, or left to
        the broker): no longer in hand. A failed task is in hand until the
        broker has its copy."""
        self.in_hand -= 1

    def _run_loop(self, until):
        """Turns of the I/O loop, at least one, until until() or the end."""
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

    def _take_tasks(self):
        """The tasks thread: the I/O loop until a task is taken, the task,
        its outcome; and again."""
        output_lost = False
        while True:
            if self._waiting:
                self._ioloop.call_later(0, _nothing)  # a turn that does not wait: the last ack goes out
            self._run_loop(lambda: self._waiting and not output_lost)
            if self._over:
                return
            task = self._waiting.popleft()
            with self._turns:
                self._loop_runner, self._task_started = None, time.monotonic()
            outcome = self._outcome(task)
            if not self._have_loop_back():
                return
            if isinstance(outcome, OutputLost):
                output_lost = True  # the task stays unacked: the broker gives it out again
                self._output_lost(outcome)
            else:
                self._finished(task, outcome)

    def _outcome(self, task):
        if task.channel is not None and not task.channel.is_open:
            return SKIPPED  # its connection is gone: not done, the broker gives it out again
        try:
            self._do(task)
            return None
        except Exception as exc:  # the work failed, or the output is gone (OutputLost)
            return exc

    def _have_loop_back(self):
        """The task is over: the I/O loop back to the tasks thread, from the
        main thread if it took it over. False if the worker has left."""
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
