"""What becomes of each task the worker takes, decided here and nowhere
else (for workqueue/life.py, whose part it is). Each task ends one way,
once: acked (done); its copy confirmed, then acked (failed: tried again
later, or parked); handed back (not started when a warm stop came); left to
the broker, which delivers it again (its channel gone, or the worker left);
with --no-ack, done, or gone (named)."""

from workqueue import retries
from workqueue.terms import (
    ACKED, COPIED, DONE, DONE_BY_CALLBACK, GONE, HANDED_BACK, HELD, LEFT, NOT_ACKED, SETTLING, WORKING,
    Ack, Copy, Failed, HandBack, Leaving, Draining, Say,
)


class Fates:
    """The tasks' part of the life: its state (in_hand, waiting, held, the
    channel) is the life's."""

    # The tasks.
    def delivered(self, task):
        if isinstance(self.phase, Leaving):
            if self.auto_ack:
                return [Say(self._lost_line(task))]
            task.state = LEFT  # the close gives it back
            return []
        if isinstance(self.phase, Draining) and not self.auto_ack:
            task.state = HANDED_BACK
            return [HandBack(task)] if task.channel is self.channel else []
        self.waiting.append(task)
        self.in_hand[task] = None
        return []

    def next_task(self):
        """The task to do now, or None. Its work starts at once."""
        if isinstance(self.phase, Leaving) or not self.waiting:
            return None
        task = self.waiting.popleft()
        task.state = WORKING
        return task

    def finished(self, task, outcome, now):
        """Its work is over: DONE_BY_CALLBACK, NOT_ACKED, or Failed."""
        if task.state != WORKING:
            return []  # past its time limit, and settled then
        gone = not self.auto_ack and task.channel is not self.channel
        if outcome is NOT_ACKED and self.auto_ack:
            return self._end(task, DONE)  # pika's auto_ack: nothing to ack
        if outcome is NOT_ACKED:
            said = [] if self.said_not_acked else [Say(
                f"the callback returned without acknowledging task {task.shown}: it stays unacknowledged, "
                "held by this worker until it leaves (ch.basic_ack(delivery_tag=method.delivery_tag) acks it)")]
            self.said_not_acked = True
            if gone:
                return [*said, *self._end(task, LEFT)]
            self.in_hand.pop(task, None)
            self.held[task] = None
            task.state = HELD
            return [*said, *self._drained(task)]
        if outcome is DONE_BY_CALLBACK:
            if self.auto_ack:
                return self._end(task, DONE)
            if gone:
                return [Say("the task's channel closed before its ack; the broker will deliver the task again"),
                        *self._end(task, LEFT)]
            return [Ack(task), *self._end(task, ACKED)]
        return self._failed(task, outcome, now)

    def past_time_limit(self, task, reason, now):
        """The Python work outlived --time-limit: nothing can stop it. Its task
        has failed, and once that is settled the worker leaves."""
        if task.state != WORKING:
            return []
        task.past_limit = True
        return self._failed(task, Failed(reason), now)

    def _failed(self, task, failure, now):
        task.reason, task.more = failure.reason, failure.more
        if self.auto_ack:
            return [self._say_failed(task, "it is gone (--no-ack: the broker forgot it when it was delivered)"),
                    *self._end(task, GONE)]
        if task.channel is not self.channel:
            return [self._say_failed(task, "its channel has closed since: the broker will deliver it again"),
                    *self._end(task, LEFT)]
        task.plan = self.policy.after_failure(self.queue, self.quorum, task.properties.headers, task.reason, now)
        task.state = SETTLING
        return [Copy(task)]

    def copy_sent(self, task):
        task.sent = True
        return []

    def copied(self, task):
        """The broker has confirmed the copy: now the task can be acked."""
        if task.state != SETTLING:
            return []
        return [Ack(task), Say(f"{self._tried(task)}; {self._where(task.plan)}", task.more), *self._end(task, COPIED)]

    def copy_refused(self, task, why, now):
        """The broker would not take the copy (`why`: refused, returned): a
        task that was to be tried again is parked instead, saying so; one that
        NAME.dead refuses is left to the broker (the connection is given up)."""
        if task.state != SETTLING:
            return []
        plan = task.plan
        if isinstance(plan, retries.Retry):
            task.reason = f"{task.reason}; its delay queue {plan.queue!r} {why} its copy"
            task.plan = self.policy.park(self.queue, task.properties.headers, task.reason, now, plan.attempt)
            task.sent = False
            return [Copy(task)]
        return [Say(f"{self._tried(task)}; the broker {why} its copy for queue {plan.queue!r}: "
                    "the task goes back to the queue"), *self._end(task, LEFT),
                *self._give_up(f"the broker {why} the failed task's copy for queue {plan.queue!r}")]

    def _end(self, task, ending):
        task.state = ending
        self.in_hand.pop(task, None)
        self.held.pop(task, None)
        if ending in (ACKED, COPIED, DONE):
            self.backoff.reset()  # this connection serves: a loss starts from the shortest delay
        return self._drained(task)

    # The words for a failed task.
    def _tried(self, task):
        plan = task.plan
        return f"task {task.shown} failed: {task.reason} (attempt {plan.attempt} of {plan.attempts})"

    @staticmethod
    def _where(plan):
        if isinstance(plan, retries.Park):
            return f"parked in queue {plan.queue!r}"
        return f"trying again in {plan.delay:g} s"

    def _say_failed(self, task, then):
        return Say(f"task {task.shown} failed: {task.reason}; {then}", task.more)

    def _unconfirmed_line(self, task):
        if not task.sent:
            return f"{self._tried(task)}; the connection ended before its copy was sent: the task goes back to the queue"
        return (f"{self._tried(task)}; the connection ended before the broker confirmed its copy in queue "
                f"{task.plan.queue!r}: the task goes back to the queue, and may be in both (at least once)")

    @staticmethod
    def _lost_line(task):
        return f"task {task.shown} is lost, not done (--no-ack: the broker forgot it when it delivered it)"


def what_became_of(task):
    return {ACKED: "was done and acknowledged", DONE: "was done", HELD: "was done, unacknowledged (see above)",
            }.get(task.state, "had failed (see above)")
