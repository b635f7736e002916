"""--time-limit for the Python work(), which nothing can stop: Python cannot
kill a thread, and an exception sent into it would neither interrupt a
blocking call nor release what the work holds. So at the limit its task has
failed, and the worker leaves: the work ends with the process, and a service
manager starts a fresh worker (docs/real-work.md). --run's command has its
limit in workqueue/commands.py, where it is ended cleanly."""

import functools
import time

from workqueue import output
from workqueue.failures import TaskFailed, time_limit_reason
from workqueue.problems import EXIT_FAILED


class WorkTimeLimit:
    """--time-limit, unless --run has the work done. When a task outlives it,
    on the I/O loop: failed(task, exc, then) as for any failure; once it is
    settled, settled(task) and leave(reason, code)."""

    def __init__(self, ioloop, settings, failed, settled, leave):
        self.ioloop, self.failed, self.settled, self.leave = ioloop, failed, settled, leave
        self.seconds = settings.time_limit if settings.command is None else None
        self._timer = None

    def started(self, task):
        """On the tasks thread, as the work starts."""
        if self.seconds is not None:
            self.ioloop.add_callback_threadsafe(functools.partial(self._watch, task, time.monotonic()))

    def finished(self, task):
        """On the I/O loop: the task's outcome is in. False if it was known
        already (failed at its limit)."""
        if self._timer is not None:
            self.ioloop.remove_timeout(self._timer)
            self._timer = None
        over, task.over = task.over, True
        return not over

    def _watch(self, task, started):
        """On the I/O loop, which may come to it a little after the work started."""
        if not task.over:
            left = max(0.0, self.seconds - (time.monotonic() - started))
            self._timer = self.ioloop.call_later(left, functools.partial(self._past, task))

    def _past(self, task):
        self._timer = None
        if task.over:
            return
        task.over = True
        self.failed(task, TaskFailed(time_limit_reason(self.seconds)), self._leave)

    def _leave(self, task):
        self.settled(task)
        self.leave(f"the work of task {output.shown(task.body)} is still running on its thread, which nothing "
                   "can stop: leaving, so that it ends with the worker", EXIT_FAILED)
