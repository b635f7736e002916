"""The tasks a worker holds: each done on a thread of its own, one at a
time, so that pika's I/O loop goes on answering heartbeats however long a
task takes. Every task goes the same way, and its outcome comes back on the
I/O loop."""

import queue
import threading
import time

from workqueue.output import OutputLost

SKIPPED = "skipped"  # the outcome of a task whose channel closed before it started
# How long the I/O loop waits for the outcome of a task it has just handed to
# an idle thread. A short task's outcome is then handled at once, and its ack
# sent, without a wake-up of the loop through add_callback_threadsafe (about
# 0.1 ms, a third of a task's cost when tasks are short and many). A longer
# task's outcome comes back that way; a pause this short costs no heartbeat.
QUICK = 0.002


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
    """do(task) on the task thread; then, on the I/O loop, finished(task,
    outcome): None when done, the exception when it failed, SKIPPED when its
    channel had closed (the broker gives it out again). The task is in hand
    until the worker calls settled(task). If the output is gone,
    output_lost(exc) instead, and the thread stops."""

    def __init__(self, ioloop, do, finished, output_lost):
        self.in_hand = 0  # tasks taken and not finished
        self.taken = 0  # every task taken, for the cut-off watch
        self.busy_since = None  # when it last took a task with none in hand
        self._do, self._finished, self._output_lost = do, finished, output_lost
        self._report = ioloop.add_callback_threadsafe
        self._waiting = queue.SimpleQueue()
        # The hand-over of a quick outcome: the task the I/O loop waits for, and its outcome.
        self._lock = threading.Lock()
        self._awaited = None
        self._quick_outcome = None
        self._outcome_ready = threading.Event()
        threading.Thread(target=self._run, name="tasks", daemon=True).start()

    def put(self, task):
        """On the I/O loop: hand the task to the thread."""
        self.taken += 1
        self.in_hand += 1
        if self.in_hand > 1:
            self._waiting.put(task)  # it waits its turn
            return
        self.busy_since = time.monotonic()
        with self._lock:
            self._awaited = task
            self._outcome_ready.clear()
        self._waiting.put(task)
        self._outcome_ready.wait(QUICK)
        with self._lock:
            self._awaited = None
            quick, self._quick_outcome = self._quick_outcome, None
        if quick is not None:
            self._finished(task, quick[0])

    def take_back_waiting(self):
        """The tasks not started yet, taken off the thread's queue."""
        taken = []
        while True:
            try:
                taken.append(self._waiting.get_nowait())
            except queue.Empty:
                self.in_hand -= len(taken)
                return taken

    def _run(self):
        while True:
            task = self._waiting.get()
            if task.channel is not None and not task.channel.is_open:
                outcome = SKIPPED  # its connection is gone: not done, the broker gives it out again
            else:
                try:
                    self._do(task)
                    outcome = None
                except OutputLost as exc:
                    self._report(lambda exc=exc: self._output_lost(exc))
                    return  # the task stays unacked
                except Exception as exc:  # the work failed
                    outcome = exc
            with self._lock:
                if self._awaited is task:  # the I/O loop is waiting for it
                    self._quick_outcome = (outcome,)
                    self._outcome_ready.set()
                    continue
            self._report(lambda task=task, outcome=outcome: self._finished(task, outcome))

    def settled(self, task):
        """On the I/O loop: the worker is done with `task` (acked, or left to
        the broker): no longer in hand. A failed task is in hand until the
        broker has its copy."""
        self.in_hand -= 1
