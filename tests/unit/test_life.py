"""workqueue/life.py, the worker's decisions, as a state machine: Hypothesis
drives random interleavings of deliveries, task outcomes, copies confirmed
or refused, signals, lost output, lost connections, reconnects and cancelled
consumers, and after every step checks what must always hold. A failing case
is printed shrunk, with the seed to replay it (`--hypothesis-seed=N`)."""

import itertools

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from workqueue import exits, life, retries, terms
from workqueue.reconnect import Backoff

SIGNALS = ["SIGTERM", "Ctrl+Break", "SIGINT", "SIGHUP"]
# The exit code each way out has (docs/options.md#exit-codes), by the start of its line.
CODES = {"interrupted": exits.INTERRUPTED, "hung up": exits.HUNG_UP, "stopped (": exits.OK,
         "error: ": exits.CONFIG, "a bug of ours": exits.SOFTWARE}


class Properties:
    def __init__(self, headers=None):
        self.headers = headers


class Channel:
    """A channel as the life sees it: an identity, open until its connection ends."""

    numbers = itertools.count(1)

    def __init__(self):
        self.number = next(self.numbers)
        self.open = True

    def __repr__(self):
        return f"channel {self.number}{'' if self.open else ' (closed)'}"


class WorkerLife(RuleBasedStateMachine):
    """The I/O loop around a Life, as consuming.py is, with a broker that
    does what brokers do: deliver while we consume, confirm or refuse copies,
    drop connections. A rule that cannot happen now does nothing (cheaper for
    Hypothesis than preconditions, which it retries)."""

    @initialize(auto_ack=st.booleans(), quorum=st.booleans(), attempts=st.integers(1, 3))
    def start(self, auto_ack, quorum, attempts):
        self.life = life.Life("q", quorum, auto_ack, retries.RetryPolicy(attempts, 1.0),
                              Backoff(uniform=lambda low, high: high))
        self.auto_ack = auto_ack
        self.now = 1000.0
        self.channel = None  # the open channel
        self.connecting = True  # a connection attempt is under way (the first, at start)
        self.closing = False  # a close we asked for is under way
        self.consumer = None  # the channel our consumer is on, while the broker sends it tasks
        self.tasks = []  # every task delivered
        self.working = None
        self.copies = []  # tasks whose copy is on its way: (task, sent)
        self.settled = {}  # task: the settling actions carried out for it (Ack, HandBack)
        self.confirmed = set()  # tasks whose copy the broker confirmed
        self.said = []
        self.exit = None
        self.stop_asked = False
        self.numbers = itertools.count(1)

    # Carrying out the life's actions, as consuming.py does, checking each.
    def act(self, actions):
        for action in actions:
            assert self.exit is None, f"{action} after the exit"
            if isinstance(action, (terms.Ack, terms.HandBack)):
                task = action.task
                assert task.channel is self.channel and self.channel is not None and self.channel.open, (
                    f"{action} on {task.channel}, not on the open channel {self.channel}")
                assert task not in self.settled, f"{task.body} settled twice: {self.settled[task]}, then {action}"
                if isinstance(action, terms.Ack) and task.plan is not None:
                    assert task in self.confirmed, f"{task.body} acked before its copy was confirmed"
                assert not self.auto_ack, f"{action} with --no-ack: there is nothing to settle"
                self.settled[task] = action
            elif isinstance(action, terms.Copy):
                assert action.task.channel is self.channel and self.channel is not None
                assert action.task not in self.settled
                self.copies.append([action.task, False])
            elif isinstance(action, terms.Consume):
                assert not self.stop_asked, "consuming after a stop was asked"
                assert self.channel is not None and self.channel.open
                self.consumer = self.channel
            elif isinstance(action, terms.Cancel):
                assert self.consumer is not None and self.consumer is self.channel
                self.consumer = None
            elif isinstance(action, terms.Reconnect):
                assert self.channel is None and not self.connecting, "a reconnect while connected"
                assert not self.stop_asked or self.auto_ack
                self.connecting = True
            elif isinstance(action, terms.Say):
                self.said.append(action.line)
            elif isinstance(action, (terms.Close, terms.GiveUp)):
                self.closing = True
            elif isinstance(action, terms.Exit):
                self.exit = action
            else:
                raise AssertionError(f"an action nobody carries out: {action}")

    def end_connection(self):
        if self.channel is not None:
            self.channel.open = False
        self.channel = self.consumer = None
        self.connecting = self.closing = False
        self.copies = [copy for copy in self.copies if copy[0].channel is not None and copy[0].channel.open]

    # What happens.
    def connect(self):
        if not (self.exit is None and self.connecting and not self.closing):
            return
        self.connecting = False
        self.channel = Channel()
        self.act(self.life.connected(self.channel))
        if self.consumer is self.channel:
            self.act(self.life.consuming(self.now))

    def deliver(self, count, headers):
        if not (self.exit is None and self.consumer is not None and not self.closing):
            return
        for _ in range(count):
            task = terms.Task(f"task {next(self.numbers)}".encode(), Properties(headers), None, self.channel, "")
            task.shown = repr(task.body.decode())
            self.tasks.append(task)
            self.act(self.life.delivered(task))

    def take(self):
        if not (self.exit is None and self.working is None):
            return
        self.working = self.life.next_task()

    def finish(self, outcome):
        if not (self.exit is None and self.working is not None):
            return
        self.now += 1
        task, self.working = self.working, None
        self.act(self.life.finished(task, outcome, self.now))

    def past_time_limit(self):
        if not (self.exit is None and self.working is not None):
            return
        self.act(self.life.past_time_limit(self.working, "ran past its time limit of 2 s", self.now))
        # the work runs on: finished() comes only if the process lasts

    def copy_answered(self, data):
        if not (self.exit is None and self.copies):
            return
        copy = data.draw(st.sampled_from(self.copies))
        task, sent = copy
        if not sent:
            copy[1] = True
            self.act(self.life.copy_sent(task))
            return
        self.copies.remove(copy)
        if data.draw(st.booleans()):
            self.confirmed.add(task)
            self.act(self.life.copied(task))
        else:
            self.act(self.life.copy_refused(task, data.draw(st.sampled_from(["refused", "returned"])), self.now))

    def signal(self, name):
        if not (self.exit is None):
            return
        if name in ("SIGTERM", "Ctrl+Break", "SIGINT", "SIGHUP"):
            self.stop_asked = True
        self.act(self.life.signal(name))

    def output_lost(self):
        if not (self.exit is None):
            return
        self.stop_asked = True
        self.act(self.life.output_lost("Broken pipe"))

    def connection_lost(self, fatal, seconds):
        if not (self.exit is None and (self.channel is not None or self.connecting)):
            return
        self.now += seconds
        self.end_connection()
        self.act(self.life.lost("lost the connection to the broker", fatal, self.now))

    def close_done(self):
        if not (self.exit is None and self.closing):
            return
        was_give_up = not isinstance(self.life.phase, terms.Leaving)
        self.end_connection()
        if was_give_up:
            self.act(self.life.lost("gave the connection up", False, self.now))
        else:
            self.act(self.life.closed())

    def consumer_cancelled(self):
        if not (self.exit is None and self.consumer is not None and not self.closing):
            return
        self.consumer = None
        if self.life.cancelled():
            self.closing = True  # it finds out why, then gives the connection up

    def a_bug_of_ours(self):
        if not (self.exit is None):
            return
        self.stop_asked = True
        self.act(self.life.bug("TypeError: can only concatenate str"))

    # How often each happens: the broker's doings and the work most, the
    # events that end a life (a signal, lost output, a bug) seldom, so that
    # lives get far before they end.
    EVENTS = (["connect"] * 4 + ["deliver"] * 6 + ["take"] * 6 + ["finish"] * 6 + ["copy_answered"] * 5
              + ["connection_lost", "close_done", "close_done", "consumer_cancelled", "past_time_limit"]
              + ["signal"] * 2 + ["output_lost", "a_bug_of_ours"])

    @rule(event=st.sampled_from(EVENTS), data=st.data())
    def step(self, event, data):
        method = getattr(self, event)
        strategies = STRATEGIES.get(event, {})
        method(**{name: data.draw(strategy, label=name) for name, strategy in strategies.items()})

    # What must always hold.
    @invariant()
    def a_warm_stop_leaves_once_nothing_is_in_hand(self):
        if hasattr(self, "life") and isinstance(self.life.phase, terms.Draining):
            assert self.life.in_hand, "draining with nothing in hand"

    @invariant()
    def no_task_ends_twice(self):
        for task in getattr(self, "tasks", []):
            if task in self.settled:
                assert task.state in (terms.ACKED, terms.COPIED, terms.HANDED_BACK), (task.body, task.state)

    @invariant()
    def the_exit_says_why_with_its_code(self):
        if getattr(self, "exit", None) is None:
            return
        reason, code = self.exit
        expected = next((c for start, c in CODES.items() if reason.startswith(start)), exits.FAILED)
        assert code == expected, (reason, code)
        for task in self.tasks:
            if task.state in terms.ENDINGS:
                continue
            # Unsettled at the exit: the broker has it back, or, with --no-ack, it is named as lost.
            if self.auto_ack:
                assert any(line.startswith(f"task {task.shown} is lost") for line in self.said), task.body
            else:
                assert "goes back to the queue" in reason or "go back to the queue" in reason, (reason, task.body)


STRATEGIES = {
    "deliver": {"count": st.integers(1, 3), "headers": st.sampled_from(
        [None, {}, {"attempts": 1}, {"x-delivery-count": "2"}, {"parked-at": "x", "attempts": 9}])},
    "finish": {"outcome": st.sampled_from([terms.DONE_BY_CALLBACK, terms.DONE_BY_CALLBACK, terms.NOT_ACKED,
                                           terms.Failed("exit status 3"), terms.Failed("RuntimeError: \udcff")])},
    "copy_answered": {"data": st.data()},
    "signal": {"name": st.sampled_from(SIGNALS)},
    "connection_lost": {"fatal": st.sampled_from([False, False, False, True]), "seconds": st.sampled_from([0.1, 30])},
}
WorkerLife.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
test_the_worker_life = WorkerLife.TestCase


# The corners found on a real broker, as examples.
def a_life(auto_ack=False):
    return life.Life("q", False, auto_ack, retries.RetryPolicy(), Backoff(uniform=lambda low, high: high))


def delivered(worker, channel, *bodies):
    tasks = [terms.Task(body, Properties(), None, channel, repr(body)) for body in bodies]
    for task in tasks:
        assert worker.delivered(task) == []
    return tasks


def test_a_warm_stop_between_tasks_hands_back_the_waiting_and_leaves_at_once():
    worker, channel = a_life(), Channel()
    worker.connected(channel)
    first, second = delivered(worker, channel, b"a", b"b")
    assert worker.next_task() is first
    assert worker.finished(first, terms.DONE_BY_CALLBACK, 0) == [terms.Ack(first)]
    actions = worker.signal("SIGTERM")  # between tasks: 'b' taken, not started
    assert actions[:2] == [terms.Cancel(), terms.HandBack(second)]
    assert actions[2:] == [terms.Close()]
    assert worker.phase == terms.Leaving("stopped (SIGTERM)", exits.OK)


def test_a_warm_stop_during_a_reconnect_does_not_consume_again():
    worker, channel = a_life(), Channel()
    worker.connected(channel)
    [task] = delivered(worker, channel, b"a")
    worker.next_task()
    worker.lost("lost the connection", False, 0)
    worker.finished(task, terms.DONE_BY_CALLBACK, 1)
    assert isinstance(worker.phase, terms.Running)
    assert worker.signal("SIGTERM") == [terms.Close()]  # nothing in hand: at once
    assert worker.connected(Channel()) == []  # no consume on the channel that comes meanwhile


def test_a_no_ack_warm_stop_does_every_task_it_was_pushed():
    worker, channel = a_life(auto_ack=True), Channel()
    worker.connected(channel)
    tasks = delivered(worker, channel, b"a", b"b", b"c")
    assert worker.next_task() is tasks[0]
    assert worker.signal("SIGTERM")[0] == terms.Cancel()
    for task in tasks:
        if task.state == terms.WAITING:
            assert worker.next_task() is task
        actions = worker.finished(task, terms.DONE_BY_CALLBACK, 0)
    assert actions == [terms.Close()]
    assert worker.phase == terms.Leaving("stopped (SIGTERM) once its task was done", exits.OK)


def test_a_no_ack_stop_at_once_names_each_task_lost():
    worker, channel = a_life(auto_ack=True), Channel()
    worker.connected(channel)
    delivered(worker, channel, b"a", b"b")
    worker.next_task()
    actions = worker.signal("SIGINT")
    assert [a.line for a in actions if isinstance(a, terms.Say)] == [
        f"task {body!r} is lost, not done (--no-ack: the broker forgot it when it delivered it)" for body in (b"a", b"b")]


@pytest.mark.parametrize("name, code", [("SIGHUP", exits.HUNG_UP), ("SIGINT", exits.INTERRUPTED)])
def test_sighup_leaves_at_once_as_ctrl_c_does(name, code):
    worker, channel = a_life(), Channel()
    worker.connected(channel)
    delivered(worker, channel, b"a")
    worker.next_task()
    assert worker.signal(name) == [terms.Close()]
    assert worker.phase.code == code and worker.phase.reason.endswith("; its unfinished task goes back to the queue")


def test_a_copy_its_delay_queue_refuses_is_parked_instead():
    worker, channel = a_life(), Channel()
    worker.connected(channel)
    [task] = delivered(worker, channel, b"a")
    worker.next_task()
    [copy] = worker.finished(task, terms.Failed("exit status 3"), 0)
    assert copy == terms.Copy(task) and isinstance(task.plan, retries.Retry)
    assert worker.copy_refused(task, "refused", 0) == [terms.Copy(task)]
    assert isinstance(task.plan, retries.Park)
    assert task.plan.headers["error"] == "exit status 3; its delay queue 'q.retry.1s' refused its copy"
    actions = worker.copied(task)
    assert actions[0] == terms.Ack(task)
    assert actions[1].line == ("task b'a' failed: exit status 3; its delay queue 'q.retry.1s' refused its copy "
                               "(attempt 1 of 5); parked in queue 'q.dead'")


def test_a_connection_lost_at_once_backs_off_further_each_time():
    worker = a_life()
    delays = []
    for _ in range(4):
        worker.connected(Channel())
        worker.consuming(0)
        delays.append(worker.lost("lost", False, 0.1)[-1].delay)
    assert delays == [0.5, 1.0, 2.0, 4.0]  # a task that breaks every connection does not loop hot
    worker.connected(Channel())
    worker.consuming(0)
    assert worker.lost("lost", False, life.STABLE)[-1].delay == 0.5  # one that served starts again short
