"""The worker's side of the connection: basic_consume, start_consuming and
basic_ack as the tutorial calls them, on the I/O loop's events. It feeds
each event to the worker's life (workqueue/life.py), which decides, and
carries out what it decides: ack, hand back, send a failed task's copy
(workqueue/copies.py), consume, cancel, reconnect, close, exit. The
callback runs on the tasks thread (workqueue/tasks.py), off the I/O loop."""

import signal
import time

from workqueue import exits, failures, headers, life, output, reconnect, signals, terms
from workqueue.copies import Copies
from workqueue.output import OutputLost
from workqueue.problems import consumer_cancelled, no_such_queue
from workqueue.session import Request
from workqueue.tasks import Tasks
from workqueue.watch import CutOffWatch


class Consumer:
    """What the worker does on its connection (`connection`: the
    workqueue.connection.Connection it set up)."""

    SIGNALS = [signal.SIGINT, *signals.STOP_SIGNALS, *signals.HANG_UP]

    def __init__(self, connection, settings):
        self.connection, self.session, self.settings = connection, connection.session, settings
        self.life = life.Life(settings.queue, False, settings.no_ack, settings.retries, reconnect.Backoff())
        self.order = list(settings.parameters)  # the URLs in the order to try them next
        self.copies = Copies(self.session, self._act_on(self.life.copy_sent), self._act_on(self.life.copied),
                             self._copy_refused, output.complain)
        self.watch = CutOffWatch(self.session, lambda: self.life.free, lambda: self.taken)
        self.tasks = Tasks(self.session.ioloop, self.life.next_task, self._do, self._finished)
        self.callback = self.channel = self.consumer_tag = None
        self.task = None  # the task whose callback runs (the tasks thread's)
        self.busy_since = None  # when the worker last took a task with none in hand
        self.taken = 0  # tasks delivered, for the cut-off watch
        self.said_odd = set()  # header names whose odd values were said

    def opened(self, channel):
        """A new channel: its set-up is on its way."""

    # What the script asks for: the set-up, recorded (workqueue/connection.py).
    def basic_consume(self, channel, queue, on_message_callback, auto_ack):
        self.channel, self.callback = channel, on_message_callback
        self.life.queue, self.life.auto_ack = queue, auto_ack
        task_queue = self.connection.queue(queue)
        self.life.quorum, self.watch.task_queue = task_queue.quorum, task_queue
        steps = [] if auto_ack else [self.copies.select]
        return [*steps, Request("answer basic.consume", self._consume)]

    def _consume(self, pika_channel, done):
        if terms.Consume() not in self.life.connected(pika_channel):  # stopping: no consume
            done(None)
            return
        pika_channel.add_on_cancel_callback(self.session.guarded(self._on_cancelled))
        self.consumer_tag = pika_channel.basic_consume(
            self.life.queue, self.session.guarded(self._on_message), auto_ack=self.life.auto_ack,
            callback=lambda frame: (self._act(self.life.consuming(time.monotonic())), self.watch.start(), done(frame)))

    def start_consuming(self):
        """Until the worker leaves: the process exits from within."""
        self.tasks.run()

    def basic_ack(self, delivery_tag, multiple):
        """From the callback, on the tasks thread: its task is done. The ack
        goes out once the callback has returned (life.finished)."""
        task = self.task
        if task is None or multiple or delivery_tag != task.method.delivery_tag:
            raise ValueError("basic_ack acks the task in hand, by its delivery tag: "
                             "ch.basic_ack(delivery_tag=method.delivery_tag)")
        if task.acked:
            raise ValueError(f"task {task.shown} is acknowledged already")
        task.acked = True

    # A task arrives; the tasks thread does it; its outcome.
    def _on_message(self, channel, method, properties, body):
        self.taken += 1
        if not self.life.in_hand:
            self.busy_since = time.monotonic()
        if properties.headers:
            self._say_odd_headers(properties.headers)
        self._act(self.life.delivered(terms.Task(body, properties, method, channel, output.shown(body))))

    def _say_odd_headers(self, table):
        for name, value in headers.odd_headers(table):
            if name not in self.said_odd:
                self.said_odd.add(name)
                output.complain(f"a task's header {name!r} holds {value!r} ({type(value).__name__}), "
                                "which the worker cannot read: taken as absent (said once)")

    def _do(self, task):
        """On the tasks thread: the script's callback, pika's way."""
        self.task = task
        stop_watch = self.settings.limit.watch(
            self.session.ioloop, task, self._past_time_limit) if self._limits_work() else None
        try:
            self.callback(self.connection.facade, task.method, task.properties, task.body)
            outcome = terms.DONE_BY_CALLBACK if task.acked or self.life.auto_ack else terms.NOT_ACKED
        except OutputLost as lost:
            outcome = lost
        except Exception as exc:  # the work failed
            outcome = self._failure(task, exc)
        self.task = None
        task.stop_limit = stop_watch
        return outcome

    def _failure(self, task, exc):
        reason = failures.exception_reason(exc)
        more = "" if isinstance(exc, failures.TaskFailed) else failures.users_traceback(exc, self.callback)
        if task.acked:  # acked, then raised: done, as the callback said; the exception is said
            output.complain(f"the callback raised after acknowledging task {task.shown}: {reason}")
            output.theirs(more)
            return terms.DONE_BY_CALLBACK
        return terms.Failed(reason, more)

    def _limits_work(self):
        return self.settings.limit is not None and self.settings.command is None

    def _finished(self, task, outcome):
        """Back on the I/O loop."""
        if task.stop_limit is not None:
            task.stop_limit()  # the time limit's watch
        if isinstance(outcome, OutputLost):
            output.drop()
            self.output_lost(str(outcome))
        else:
            self._act(self.life.finished(task, outcome, time.time()))

    def _past_time_limit(self, task):
        self._act(self.life.past_time_limit(task, self.settings.limit.reason, time.time()))

    def _copy_refused(self, task, why):
        self._act(self.life.copy_refused(task, why, time.time()))

    # What ends a connection.
    def _on_cancelled(self, _frame):
        """The broker cancelled our consumer: find out why (is the queue
        still there?), then reconnect."""
        if self.life.cancelled():
            self.session.ask(self.watch.task_queue.look, self._cancelled_queue_exists)

    def _cancelled_queue_exists(self, _frame):
        into_task = time.monotonic() - self.busy_since if self.life.in_hand else None
        self.session.give_up(consumer_cancelled(into_task))

    def channel_closed(self, reason, asked):
        looking = self.watch.task_queue is not None and self.watch.task_queue.look in asked
        if looking and no_such_queue(reason):
            return f"the broker cancelled our consumer: queue {self.life.queue!r} was deleted"
        return reason

    def ended(self, problem):
        self.watch.stop()
        if problem is None:
            self._act(self.life.closed())
            return
        explained = self.session.explain(problem)
        self.order = reconnect.after(self.order, self.session.connected_to)
        self._act(self.life.lost(explained.text, explained.fatal, time.monotonic()))

    def output_lost(self, why):
        self._act(self.life.output_lost(why))

    def on_signal(self, signum):
        self._act(self.life.signal(signals.name(signum)))

    def bug(self, exc):
        self._act(self.life.bug(failures.ours(exc)))

    # Carrying out what the life decides.
    def _act_on(self, event):
        return lambda task: self._act(event(task))

    def _act(self, actions):
        for action in actions:
            kind = type(action)
            if kind is terms.Ack:
                if action.task.channel.is_open:
                    action.task.channel.basic_ack(action.task.method.delivery_tag)
            elif kind is terms.Say:
                output.complain(action.line)
                if action.more:
                    output.theirs(action.more)
            elif kind is terms.HandBack:
                if action.task.channel.is_open:
                    action.task.channel.basic_nack(action.task.method.delivery_tag, requeue=True)
            elif kind is terms.Copy:
                self.copies.send(action.task)
            elif kind is terms.Cancel:
                self._cancel()
            elif kind is terms.Reconnect:
                self.session.connect_later(action.delay, self.order)
            elif kind is terms.GiveUp:
                self.session.give_up(action.problem)
            elif kind is terms.Close:
                self.session.close()
            elif kind is terms.Exit:
                exits.leave(action.reason, action.code)

    def _cancel(self):
        channel = self.session.channel
        if channel is None or not channel.is_open:
            return
        channel.basic_cancel(self.consumer_tag)
        if self.life.auto_ack:
            # pika drops what comes for a cancelled consumer with automatic acks
            # until the broker's cancel-ok; with --no-ack those tasks exist only
            # here, so they still go to on_message (pika's own record, 1.3-1.5).
            channel._cancelled.discard(self.consumer_tag)


def redelivered(method, properties):
    """' (redelivered)', with the delivery's number where the queue counts them."""
    if not method.redelivered:
        return ""
    earlier = headers.earlier_deliveries(properties.headers)  # quorum queues; odd values count as absent
    return f" (redelivered, delivery {earlier + 1})" if earlier else " (redelivered)"
