"""The terms of a worker's life (workqueue/life.py): a task as the worker
holds it, its states and endings, what its work came to, the worker's phases,
and the actions the life asks of the I/O loop."""

from typing import NamedTuple

# A task's states while in hand, and its endings.
WAITING, WORKING, SETTLING, HELD = "waiting", "working", "settling", "held"
ACKED, COPIED, HANDED_BACK, LEFT, DONE, GONE = "acked", "copied", "handed back", "left", "done", "gone"
ENDINGS = (ACKED, COPIED, HANDED_BACK, LEFT, DONE, GONE)


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
