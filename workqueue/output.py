"""Output: the tutorial's lines on stdout, one at a time as they happen;
diagnostics on stderr, one line each, named after the script."""

import os
import sys

from workqueue import SCRIPT


class OutputLost(Exception):
    """Standard output is gone: a closed pipe (./worker.py | head), a full disk."""


def line_by_line():
    """Each line shows at once, even in a pipe; a character that the
    output's encoding lacks is escaped rather than failing."""
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")


def shown(body):
    """A task as the tutorial shows it: the repr of its text, or of its bytes
    when they are not UTF-8. The same in both scripts."""
    try:
        return repr(body.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(body)


def say(line):
    """A line of tutorial output on stdout; OutputLost if it is gone."""
    try:
        sys.stdout.write(line + "\n")  # one write, flushed by line buffering
    except (OSError, ValueError) as exc:  # ValueError: stdout was closed
        raise OutputLost(getattr(exc, "strerror", None) or str(exc)) from None


def complain(message):
    """A diagnostic: one line on stderr, named after the script."""
    try:
        print(f"{SCRIPT}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr is gone too: nobody left to tell


def theirs(text):
    """Text that is not ours (the traceback of the user's work), on stderr as it is."""
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def drop():
    """Once stdout is gone: point it at the null device, so that nothing
    fails again when Python flushes it at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_or_drop():
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        drop()
