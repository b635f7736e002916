"""What a failed task is: the error that says so, and its reason in words.

A task's work has two outcomes: it returns (done) or raises (failed). The
reason is what the worker prints and what a parked task carries in its
headers, so it is worded for a person: "exit status 3", "killed by SIGKILL",
"ran past its time limit of 2 s", "RuntimeError: could not resize the image".
"""

import signal
import traceback


class TaskFailed(Exception):
    """The work of a task failed, for the reason given (in words)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def exit_reason(returncode, on_windows=False):
    """Why a command that ended with `returncode` (subprocess's: negative for a
    POSIX signal) failed; None if it did not (0)."""
    if returncode == 0:
        return None
    if returncode < 0 and not on_windows:
        return f"killed by {signal_name(-returncode)}"
    if on_windows and not 0 <= returncode <= 255:
        # An NTSTATUS, such as 0xC0000005 (an access violation) or 0xC000013A (Ctrl+C).
        return f"exit status {returncode & 0xFFFFFFFF:#010X}".replace("0X", "0x")
    return f"exit status {returncode}"


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# A reason goes into a parked task's headers, which must fit in one AMQP
# frame (128 KiB by default): an exception's message can be any length.
LONGEST_REASON = 1000


def exception_reason(exc):
    """An exception raised by the user's work(), in one line."""
    if isinstance(exc, TaskFailed):
        return exc.reason
    text = " ".join(str(exc).split())  # one line, whatever the message holds
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason if len(reason) <= LONGEST_REASON else reason[:LONGEST_REASON - 1] + "\u2026"


def users_traceback(exc, work):
    """The traceback of an exception raised by the user's function `work`,
    from its frame down: the user's code to debug, without the frames of
    ours that called it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not work.__code__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def ours(exc):
    """An exception of ours, in one line: what and where (the innermost frame of ours)."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if "workqueue" in frame.filename.replace("\\", "/").split("/"):
            where = f" (workqueue/{frame.filename.replace(chr(92), '/').rsplit('/', 1)[-1]}, line {frame.lineno})"
    return f"{exception_reason(exc)}{where}"
