"""--time-limit for the Python work(), which nothing can stop: Python cannot
kill a thread, and an exception sent into it would neither interrupt a
blocking call nor release what the work holds. So at the limit its task has
failed, and the worker leaves: the work ends with the process, and a service
manager starts a fresh worker (docs/real-work.md). --run's command has its
limit in workqueue/commands.py, where it is ended cleanly."""

import functools


class WorkTimeLimit:
    """`seconds` None: no limit. past(task) on the I/O loop when a task
    outlives it."""

    def __init__(self, ioloop, seconds, past):
        self.ioloop, self.seconds, self.past = ioloop, seconds, past
        self._timer = None

    def started(self, task):
        """On the task thread, as the work starts."""
        if self.seconds is not None:
            self.ioloop.add_callback_threadsafe(functools.partial(self._watch, task))

    def finished(self, task):
        """On the I/O loop: the task's outcome is in. False if it was known
        already (failed at its limit)."""
        if self._timer is not None:
            self.ioloop.remove_timeout(self._timer)
            self._timer = None
        over, task.over = task.over, True
        return not over

    def _watch(self, task):
        if not task.over:
            self._timer = self.ioloop.call_later(self.seconds, functools.partial(self._past, task))

    def _past(self, task):
        self._timer = None
        if not task.over:
            task.over = True
            self.past(task)
