"""A worker's phases, from running to leaving, and the way out of the
process: one line saying why, and the exit code that goes with it."""

import os
import sys
from typing import NamedTuple

from workqueue import commands, output
from workqueue.problems import EXIT_INTERRUPTED


class Running(NamedTuple):
    """Taking tasks."""


class Draining(NamedTuple):
    """A warm stop: no new task, the one in hand finished and acked."""

    signal: str  # the stop asked for, as the user knows it: SIGTERM, Ctrl+Break


class Leaving(NamedTuple):
    """Closing the connection, then exiting."""

    reason: str  # the last line on stderr
    code: int  # the exit code


def what_becomes_of_tasks_in_hand(no_ack):
    """What leaving does to the tasks in hand, added to the reason."""
    if no_ack:
        return "; the tasks it had taken are lost (--no-ack)"  # the broker forgot them on delivery
    return "; its unfinished task goes back to the queue"  # never acked: the broker gives it out again


def exit_now(reason, code):
    """Say why, and exit at once: the tasks thread may be in the middle of a
    task, which is not acked and goes back to the queue."""
    commands.end_running()  # nothing of a --run command runs on, orphaned
    if code == EXIT_INTERRUPTED and sys.stderr.isatty():
        print(file=sys.stderr)  # off the line where the terminal echoed ^C
    output.complain(reason)
    output.flush_or_drop()
    os._exit(code)
