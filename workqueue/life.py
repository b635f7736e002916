"""A worker's life, as decisions: what each event does to the tasks in hand
and to the worker, what the worker must do then, and the words for it. Pure:
workqueue/consuming.py feeds it the I/O loop's events and carries out the
actions it returns; tests/unit/test_life.py drives it through random
interleavings of events and checks what must always hold.

What becomes of a task is decided here and nowhere else. Each task ends one
way, once: acked (done); its copy confirmed, then acked (failed: tried again
later, or parked); handed back (not started when a warm stop came); left to
the broker, which delivers it again (its channel gone, or the worker left);
with --no-ack, done, or gone (named).
"""

import collections
from typing import NamedTuple

from workqueue import exits, retries

# A task's states while in hand, and its endings.
WAITING, WORKING, SETTLING, HELD = "waiting", "working", "settling", "held"
ACKED, COPIED, HANDED_BACK, LEFT, DONE, GONE = "acked", "copied", "handed back", "left", "done", "gone"
ENDINGS = (ACKED, COPIED, HANDED_BACK, LEFT, DONE, GONE)
# A connection that served this long had not been lost at once: the next
# reconnect starts from the shortest delay again. One lost sooner (a task
# that breaks every connection it comes on) backs off further each time.
STABLE = 10.0  # s


class Task:
    """A delivery, as the worker holds it: the shell's (body, properties,
    method, the channel it came on) and the life's own (state, the plan for a
    failed one)."""

    __slots__ = ("body", "properties", "method", "channel", "shown", "state", "plan", "reason", "more",
                 "sent", "past_limit", "acked", "stop_limit")

    def __init__(self, body, properties, method, channel, shown):
        self.body, self.properties, self.method, self.channel, self.shown = body, properties, method, channel, shown
        self.state = WAITING
        self.plan = self.reason = self.stop_limit = None
        self.more = ""  # said after its failure line: the traceback of the user's work
        self.sent = False  # its copy has gone out (it may be in the copy's queue)
        self.past_limit = False
        self.acked = False  # the callback called basic_ack


# What a task's work came to.
class Failed(NamedTuple):
    reason: str  # in words: "exit status 3", "RuntimeError: could not resize the image"
    more: str = ""  # the user's traceback, said after the line


DONE_BY_CALLBACK, NOT_ACKED = "acked by the callback", "returned without an ack"


# The phases.
class Running(NamedTuple):
    """Taking tasks."""


class Draining(NamedTuple):
    """A warm stop: no new task, those in hand finished."""

    signal: str  # as the user knows it: SIGTERM, Ctrl+Break


class Leaving(NamedTuple):
    """Closing the connection, then exiting."""

    reason: str  # the last line on stderr
    code: int


# What the worker must do.
class Ack(NamedTuple):
    task: Task


class HandBack(NamedTuple):
    task: Task  # basic.nack, requeued: for another worker


class Copy(NamedTuple):
    task: Task  # publish task.plan's copy, then copy_sent(); copied() once confirmed


class Consume(NamedTuple):
    pass


class Cancel(NamedTuple):
    pass  # the consumer, on the open channel: the broker sends no more


class Reconnect(NamedTuple):
    delay: float


class Say(NamedTuple):
    line: str
    more: str = ""  # text that is not ours, after the line


class Close(NamedTuple):
    pass  # the connection; closed() once it is


class GiveUp(NamedTuple):
    problem: str  # the connection, as one that stopped answering: lost() follows


class Exit(NamedTuple):
    reason: str
    code: int


class Life:
    """`policy`: the retries.RetryPolicy; `queue`, `quorum`: the task queue;
    `auto_ack`: --no-ack; `backoff`: a reconnect.Backoff."""

    def __init__(self, queue, quorum, auto_ack, policy, backoff):
        self.queue, self.quorum, self.auto_ack, self.policy, self.backoff = queue, quorum, auto_ack, policy, backoff
        self.phase = Running()
        self.channel = None  # the channel set up, between connected() and lost()
        self.consumer = None  # the channel our consumer is on
        self.consuming_since = None
        self.waiting = collections.deque()  # taken, not started, in order
        self.in_hand = {}  # waiting, working or settling, in the order taken (a dict as an ordered set)
        self.held = {}  # returned by the callback without an ack
        self.said_not_acked = False

    # The connection.
    def connected(self, channel):
        """A new channel is set up: consume on it, unless the worker is stopping."""
        self.channel = channel
        if not isinstance(self.phase, Running):
            return []
        self.consumer = channel
        return [Consume()]

    def consuming(self, now):
        self.consuming_since = now
        return []

    def lost(self, problem, fatal, now):
        """The connection ended, or could not be made, and not as we asked
        (`problem`: what went wrong, in words). The broker delivers again
        every task it had handed out on it and that was not acked."""
        said = self._left_to_the_broker()
        self.channel = self.consumer = None
        if isinstance(self.phase, Leaving):
            return [*said, self._exit()]
        if fatal:
            return [*said, *self._leave(f"error: {problem}", exits.CONFIG)]
        if isinstance(self.phase, Draining):
            if self.auto_ack and self.in_hand:  # tasks only this worker has: the broker is not needed for them
                return said
            return [*said, *self._leave(f"{problem}; stopping as asked ({self.phase.signal})", exits.FAILED,
                                        went_back=True)]
        if self.consuming_since is not None and now - self.consuming_since >= STABLE:
            self.backoff.reset()
        self.consuming_since = None
        delay = self.backoff.next_delay()
        return [*said, Say(f"{problem}; retrying in {delay:.1f} s"), Reconnect(delay)]

    def _left_to_the_broker(self):
        """The channel is gone: the tasks that came on it and are not
        settled come back to the queue (not --no-ack's: they exist only here)."""
        if self.auto_ack:
            return []
        said = []
        for task in [t for t in (*self.in_hand, *self.held) if t.channel is self.channel]:
            if task.state == WORKING:
                continue  # said when its work ends (finished)
            if task.state == SETTLING:
                said.append(Say(self._unconfirmed_line(task)))
            self._end(task, LEFT)
        self.waiting = collections.deque(t for t in self.waiting if t.state == WAITING)
        return said

    def closed(self):
        """The close we asked for is done."""
        said = self._left_to_the_broker()
        return [*said, self._exit()]

    def cancelled(self):
        """The broker cancelled our consumer: True if the worker should find
        out why and reconnect; a stopping worker wanted no more tasks anyway."""
        self.consumer = None
        return isinstance(self.phase, Running)

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

    # Stopping.
    def signal(self, name):
        """SIGINT (Ctrl+C) and SIGHUP (the terminal gone) leave at once; SIGTERM
        and Ctrl+Break stop warm; any signal while leaving, at once."""
        if isinstance(self.phase, Leaving):
            return [self._exit()]
        if name == "SIGINT":
            return self._leave("interrupted", exits.INTERRUPTED)
        if name == "SIGHUP":
            return self._leave("hung up (SIGHUP)", exits.HUNG_UP)
        if isinstance(self.phase, Draining) or not self.in_hand:
            return self._leave(f"stopped ({name})", exits.OK)
        self.phase = Draining(name)
        actions = [Cancel()] if self.consumer is not None else []
        if not self.auto_ack:
            for task in self.waiting:  # taken, not started: for another worker now
                self.in_hand.pop(task, None)
                task.state = HANDED_BACK
                actions.append(HandBack(task))
            self.waiting.clear()
        if not self.in_hand:  # it was between tasks
            return [*actions, *self._leave(f"stopped ({name})", exits.OK)]
        what = "the one in hand" if not self.auto_ack else "the tasks it was pushed (--no-ack: they are nowhere else)"
        actions.append(Say(f"stopping ({name}): taking no new task, finishing {what} ({name} again or Ctrl+C: "
                           "stop now, and the task goes back to the queue)"))
        return actions

    def output_lost(self, why):
        return self._leave(f"standard output is gone ({why}): stopping", exits.FAILED)

    def bug(self, text):
        """An exception of ours: said as ours, and the worker leaves (a
        service manager restarts it); its tasks go back to the queue."""
        return self._leave(f"a bug of ours, not of the broker or the task: {text}; leaving (please report it)",
                           exits.SOFTWARE)

    @property
    def free(self):
        """Running with nothing in hand: what the cut-off watch waits for."""
        return isinstance(self.phase, Running) and not self.in_hand

    # Within.
    def _end(self, task, ending):
        task.state = ending
        self.in_hand.pop(task, None)
        self.held.pop(task, None)
        if ending in (ACKED, COPIED, DONE):
            self.backoff.reset()  # this connection serves: a loss starts from the shortest delay
        return self._drained(task)

    def _drained(self, task):
        """A task is settled: a runaway work() makes the worker leave; so does
        a warm stop that has nothing left in hand."""
        if task.past_limit:
            return self._leave(f"the work of task {task.shown} is still running on its thread, which nothing "
                               "can stop: leaving, so that it ends with the worker", exits.FAILED)
        if isinstance(self.phase, Draining) and not self.in_hand:
            return self._leave(f"stopped ({self.phase.signal}) once its task {_what_became_of(task)}", exits.OK)
        return []

    def _leave(self, reason, code, went_back=False):
        """Close without acking what is in hand: the broker gives those tasks
        to other workers (with --no-ack it has forgotten them: each is named)."""
        said = []
        unfinished = [t for t in (*self.in_hand, *self.held) if t.state in (WAITING, WORKING, SETTLING, HELD)]
        if self.auto_ack:
            said = [Say(self._lost_line(task)) for task in unfinished]
            self.in_hand.clear()
        elif unfinished or went_back:
            count = max(1, len(unfinished))
            reason += ("; its unfinished task goes back to the queue" if count == 1
                       else f"; its {count} unfinished tasks go back to the queue")
        self.waiting.clear()
        self.phase = Leaving(reason, code)
        return [*said, Close()]

    def _give_up(self, problem):
        """Give the connection up, as when the broker stops answering: the
        tasks not acked come back (lost() follows)."""
        return [] if isinstance(self.phase, Leaving) else [GiveUp(problem)]

    def _exit(self):
        return Exit(self.phase.reason, self.phase.code)

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


def _what_became_of(task):
    return {ACKED: "was done and acknowledged", DONE: "was done", HELD: "was done, unacknowledged (see above)",
            }.get(task.state, "had failed (see above)")
