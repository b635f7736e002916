"""The cut-off watch: a free worker that gets nothing while its queue has
tasks waiting is cut off from them: its node cannot reach the queue's
leader (a network partition), or has stopped answering. It then gives its
connection up, and the worker goes on to its next URL. A cut-off node may
still answer, with the count it had at the cut: so the other nodes of --url
are asked too, and most must agree (docs/scaling-out.md)."""

import copy
import functools
import os

import pika

from workqueue import SCRIPT
from workqueue.problems import where
from workqueue.session import CLOSE_GRACE, close_within


class CutOffWatch:
    """Looks at the queue (`task_queue`, a topology.TaskQueue, set once the
    worker consumes from it) once every --timeout while `free()`; `taken()`
    counts the tasks received so far."""

    def __init__(self, session, free, taken):
        self.session, self.free, self.taken = session, free, taken
        self.task_queue = None
        self._timer = None
        self._look = None  # the look under way, as opposed to one from a connection since lost

    def start(self, suspect=None):
        """Look in --timeout s; `suspect`: the tasks taken by the last look,
        if it found tasks waiting that did not come."""
        self._timer = self.session.ioloop.call_later(self.session.timeout, functools.partial(self._check, suspect))

    def stop(self):
        self._look = None
        if self._timer is not None:
            self.session.ioloop.remove_timeout(self._timer)
            self._timer = None

    def _check(self, suspect):
        self._timer = None
        session = self.session
        look = self.task_queue.look
        if not self.free() or session.channel is None or session.asked(look):
            self.start()
            return
        taken, answers, everyone = self.taken(), [], session.parameters
        others = [p for p in everyone if p != session.connected_to]
        this_look = self._look = object()

        def counted(count):
            if this_look is not self._look:
                return
            answers.append(count)
            if len(answers) < 1 + len(others):
                return
            waiting = [n for n in answers if n]
            if len(waiting) <= len(everyone) / 2 or not self.free() or taken != self.taken():
                self.start()
            elif suspect != taken:
                self.start(taken)  # once more, to be sure
            else:
                seen = "as the broker sees it" if not others else f"as {len(waiting)} of {len(everyone)} nodes see it"
                session.give_up(
                    f"queue {self.task_queue.name!r} has {max(waiting)} tasks waiting ({seen}), yet none came to "
                    f"this free worker for {session.timeout:g} s: the broker at "
                    f"{where(session.parameters_in_use())} is likely cut off from the queue's leader"
                )

        session.ask(look, lambda frame: counted(frame.method.message_count))
        for parameters in others:
            look_at_queue(session.ioloop, parameters, self.task_queue.name, session.timeout, counted)


def look_at_queue(ioloop, parameters, queue, timeout, report):
    """Ask the broker at `parameters`, on a short connection of its own, how
    many tasks `queue` has waiting: report(count) once, None if it cannot say
    within `timeout` s."""
    looking = copy.copy(parameters)
    looking.client_properties = {
        **parameters.client_properties,
        "connection_name": f"{SCRIPT} (pid {os.getpid()}): a look at queue {queue!r}",
    }
    answered = []

    def answer(count, connection=None):
        if answered:
            return
        answered.append(count)
        ioloop.remove_timeout(deadline)
        if connection is not None and connection.is_open:
            close_within(ioloop, connection, CLOSE_GRACE)
        report(count)

    def on_open(connection):
        connection.channel(on_open_callback=lambda channel: channel.queue_declare(
            queue, passive=True, callback=lambda frame: answer(frame.method.message_count, connection)))

    connection = pika.SelectConnection(
        looking, on_open_callback=on_open,
        on_open_error_callback=lambda _connection, _error: answer(None),
        on_close_callback=lambda _connection, _reason: answer(None),
        custom_ioloop=ioloop,
    )
    deadline = ioloop.call_later(timeout, lambda: answer(None, connection))
