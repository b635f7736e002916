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

from workqueue import exits
from workqueue.fates import Fates, what_became_of
from workqueue.terms import (
    HANDED_BACK, HELD, LEFT, SETTLING, WAITING, WORKING,
    Cancel, Close, Consume, Draining, Exit, GiveUp, HandBack, Leaving, Reconnect, Running, Say,
)

# A connection that served this long had not been lost at once: the next
# reconnect starts from the shortest delay again. One lost sooner (a task
# that breaks every connection it comes on) backs off further each time.
STABLE = 10.0  # s


class Life(Fates):
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
    def _drained(self, task):
        """A task is settled: a runaway work() makes the worker leave; so does
        a warm stop that has nothing left in hand."""
        if task.past_limit:
            return self._leave(f"the work of task {task.shown} is still running on its thread, which nothing "
                               "can stop: leaving, so that it ends with the worker", exits.FAILED)
        if isinstance(self.phase, Draining) and not self.in_hand:
            return self._leave(f"stopped ({self.phase.signal}) once its task {what_became_of(task)}", exits.OK)
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


