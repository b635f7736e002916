"""Output: the tutorial's lines on stdout, each shown at once as it is
printed; diagnostics on stderr, one line each, named after the script."""

import os
import select
import stat
import sys

from workqueue import SCRIPT, exits

STREAMS = ("stdin", "stdout", "stderr")  # sys's names, in the order of their file descriptors


class OutputLost(Exception):
    """Standard output is gone: a closed pipe (./worker.py | head), a full disk."""


class Lines:
    """sys.stdout as the scripts print to it: each line written at once, even
    in a pipe; a character the output's encoding lacks escaped rather than
    failing; OutputLost, not an OSError, once it is gone (so that it is not
    taken for a failure of the work). Lines written while `recorder` is set
    are handed to it instead: a connection's set-up says them once it is done."""

    def __init__(self, stream):
        stream.reconfigure(line_buffering=True, errors="backslashreplace")
        self.stream = stream
        self.recorder = None
        self._line = []  # a line being written in pieces, for the recorder (print writes its end apart)

    def write(self, text):
        if self.recorder is not None:
            self._record(text)
            return len(text)
        try:
            return self.stream.write(text)
        except (OSError, ValueError) as exc:  # ValueError: stdout was closed
            raise OutputLost(getattr(exc, "strerror", None) or str(exc)) from None

    def _record(self, text):
        *ends, rest = text.split("\n")
        for end in ends:
            self.recorder("".join([*self._line, end]))
            self._line.clear()
        if rest:
            self._line.append(rest)

    def flush(self):
        try:
            self.stream.flush()
        except (OSError, ValueError) as exc:
            raise OutputLost(getattr(exc, "strerror", None) or str(exc)) from None

    def __getattr__(self, name):  # fileno, isatty, encoding ... as the stream has them
        return getattr(self.stream, name)


class Closed:
    """sys.stdin when it was closed at start (Python leaves None): its
    fileno() is no file descriptor, so that stdin.lines_of says in one line
    that there is nothing to read."""

    def fileno(self):
        return -1


def line_by_line():
    """The standard streams, before anything is sent or taken; both scripts
    print through Lines from here on.

    Started with a stream closed (cron, a service with no terminal), its file
    descriptor gets the null device, so that no socket or file opened later
    takes its number (a --run command inherits stdout and stderr): stderr
    then discards what it is told, stdin is Closed; with no stdout, or one
    that nothing reads, the script stops here, in one line, exit 1."""
    if isinstance(sys.stdout, Lines):
        return
    for fd, name in enumerate(STREAMS):
        if getattr(sys, name) is None:
            null_device_on(fd)
    if sys.stderr is None:
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)
    if sys.stdin is None:
        sys.stdin = Closed()
    problem = why_no_output()
    if problem is not None:
        complain(f"error: {problem}; to discard them, redirect it to {os.devnull} (>{os.devnull})")
        sys.exit(exits.FAILED)
    sys.stdout = Lines(sys.stdout)


def null_device_on(fd):
    """The null device as file descriptor `fd`, unless something holds it."""
    try:
        os.fstat(fd)
        return  # already taken (by what Python opened meanwhile): leave it
    except OSError:
        pass
    null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)  # (on Windows it sets the standard handle too, which a child inherits)
        os.close(null)


def why_no_output():
    """Why nothing written to stdout can arrive, or None."""
    if sys.stdout is None:
        return "standard output is closed: the script's lines would go nowhere"
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return None  # not a file (a test's stand-in): nothing to look at
    if pipe_nobody_reads(fd):
        return "standard output is a pipe that nothing reads (its reader has gone)"
    return None


def pipe_nobody_reads(fd):
    """A pipe whose reading end is closed, as `./worker.py | true` once true
    has gone: poll() says POLLERR (Linux) or POLLHUP (BSD, macOS) for it.
    Windows has no poll(): there the first line written says it."""
    if not hasattr(select, "poll") or not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def recording(recorder):
    """recorder(line) for each line printed from now on, instead of the
    line shown; None: shown again."""
    sys.stdout.recorder = recorder


def shown(body):
    """A task as the tutorial shows it: the repr of its text, or of its bytes
    when they are not UTF-8. The same in both scripts."""
    try:
        return repr(body.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(bytes(body))


def say(line):
    """A line of tutorial output on stdout; OutputLost if it is gone."""
    sys.stdout.write(line + "\n")


def complain(message):
    """A diagnostic: one line on stderr, named after the script."""
    if sys.stderr is None:
        return  # closed at start (print would write to stdout instead)
    try:
        print(f"{SCRIPT}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr is gone too: nobody left to tell


def theirs(text):
    """Text that is not ours (the traceback of the user's work), on stderr as it is."""
    if sys.stderr is None:
        return
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def drop():
    """Once stdout is gone: point it at the null device, so that nothing
    fails again when Python flushes it at exit."""
    if sys.stdout is not None:  # None: closed at start, nothing to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_or_drop():
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError, OutputLost):
        drop()
