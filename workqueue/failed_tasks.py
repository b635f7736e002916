"""A failed task, on the I/O loop: said on stderr (with the traceback of the
user's work(), if it raised), then tried again later or parked
(workqueue/retries.py): its copy goes to its delay queue or NAME.dead, and
the task is acked only once the broker has confirmed the copy
(workqueue/retry_steps.py). With --no-ack it is gone, and said so."""

import collections
import time

from workqueue import failures, output, retries, retry_steps


class FailedTasks:
    """`work`: the user's function, whose frames alone its traceback shows."""

    def __init__(self, session, settings, work):
        self.session, self.settings, self.work = session, settings, work
        self.confirms = retry_steps.Confirms()
        self._settling = collections.deque()  # (task, steps, acked): the copy on its way first

    def confirm_step(self):
        """A set-up step on each new channel (not with --no-ack): confirms for the copies."""
        return self.confirms.select_step()

    def failed(self, task, exc, then):
        """`task` failed with `exc`; then(task) once it is settled: acked
        after its copy is confirmed, or gone (--no-ack), or left to the broker
        (its channel closed since: it delivers the task again)."""
        reason = failures.exception_reason(exc)
        shown = output.shown(task.body)
        if task.channel is not None and task.channel is not self.session.channel:
            output.complain(f"task {shown} failed: {reason}; its channel has closed since: the broker will deliver it again")
            then(task)
            return
        outcome = None if task.channel is None else self.settings.retries.after_failure(
            self.settings.queue, self.settings.queue_type == "quorum",
            task.properties.headers, reason, time.time())
        output.complain(retries.failure_line(shown, reason, outcome))
        if not isinstance(exc, failures.TaskFailed):
            output.theirs(failures.users_traceback(exc, self.work))
        if outcome is None:
            then(task)
            return

        def acked():
            task.channel.basic_ack(task.delivery_tag)
            self._settling.popleft()
            self._next()
            then(task)

        steps = retry_steps.after_failure(self.confirms, outcome, task.body, task.properties, self.session.give_up)
        self._settling.append((task, steps, acked))
        if len(self._settling) == 1:
            self._next()

    def _next(self):
        """One copy at a time: the session's steps go in turn."""
        if self._settling:
            _task, steps, acked = self._settling[0]
            self.session.in_turn(steps, acked)

    def connection_ended(self):
        """The tasks whose copies were on their way, which may or may not be
        in their queues: never acked, the tasks come back (at least once)."""
        tasks = [task for task, _steps, _acked in self._settling]
        self._settling.clear()
        return tasks
