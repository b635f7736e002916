"""A failed task, on the I/O loop: tried again later or parked
(workqueue/retries.py): its copy goes to its delay queue or NAME.dead, and
the task is acked only once the broker has confirmed the copy
(workqueue/retry_steps.py); then said on stderr (with the traceback of the
user's work(), if it raised), as it is now true. With --no-ack it is gone,
and said so."""

import collections
import time
from typing import Callable, NamedTuple

from workqueue import failures, output, retries, retry_steps


class Settling(NamedTuple):
    """A failed task whose copy is on its way: the session's steps to send
    it, then acked() once confirmed, or unconfirmed() if the connection ends first."""

    task: object
    steps: list
    acked: Callable
    unconfirmed: Callable


class FailedTasks:
    """`work`: the user's function, whose frames alone its traceback shows."""

    def __init__(self, session, settings, work):
        self.session, self.settings, self.work = session, settings, work
        self.confirms = retry_steps.Confirms()
        self._settling = collections.deque()  # of Settling: the copy on its way first

    def confirm_step(self):
        """A set-up step on each new channel (not with --no-ack): confirms for the copies."""
        return self.confirms.select_step()

    def failed(self, task, exc, then):
        """`task` failed with `exc`; then(task) once it is settled: acked
        after its copy is confirmed, or gone (--no-ack), or left to the broker
        (its channel closed since: it delivers the task again)."""
        reason = failures.exception_reason(exc)
        shown = output.shown(task.body)

        def say(line):
            output.complain(line)
            if not isinstance(exc, failures.TaskFailed):
                output.theirs(failures.users_traceback(exc, self.work))

        if task.channel is not None and task.channel is not self.session.channel:
            say(f"task {shown} failed: {reason}; its channel has closed since: the broker will deliver it again")
            then(task)
            return
        outcome = None if task.channel is None else self.settings.retries.after_failure(
            self.settings.queue, self.settings.queue_type == "quorum",
            task.properties.headers, reason, time.time())
        if outcome is None:
            say(retries.failure_line(shown, reason, outcome))
            then(task)
            return

        def acked():
            task.channel.basic_ack(task.delivery_tag)
            self._settling.popleft()
            say(retries.failure_line(shown, reason, outcome))  # said once true: the copy is in its queue
            self._next()
            then(task)

        def unconfirmed():
            say(retries.unconfirmed_line(shown, reason, outcome))

        steps = retry_steps.after_failure(self.confirms, outcome, task.body, task.properties, self.session.give_up)
        self._settling.append(Settling(task, steps, acked, unconfirmed))
        if len(self._settling) == 1:
            self._next()

    def _next(self):
        """One copy at a time: the session's steps go in turn."""
        if self._settling:
            settling = self._settling[0]
            self.session.in_turn(settling.steps, settling.acked)

    def connection_ended(self):
        """The tasks whose copies were on their way, which may or may not be
        in their queues: never acked, the tasks come back (at least once)."""
        for settling in self._settling:
            settling.unconfirmed()
        tasks = [settling.task for settling in self._settling]
        self._settling.clear()
        return tasks
