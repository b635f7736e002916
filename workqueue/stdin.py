"""Tasks from standard input, one a line (new_task.py -)."""

import functools
import io
import os
import sys
import threading

from workqueue import END_OF_INPUT, output
from workqueue.problems import EXIT_FAILED

CHUNK = 1 << 16
# A Windows console's read that Ctrl+C ends returns nothing, as at the end of
# the input, and the console tells of the Ctrl+C on another thread, not always
# first (CPython's Parser/myreadline.c and Modules/_io/winconsoleio.c): how
# long an empty read waits for that word before it counts as the end.
CTRL_C_GRACE = 0.5
ERROR_OPERATION_ABORTED = 995  # what such a read may fail with instead


def lines_of(fd):
    """(line number, task) for each line of the file `fd` that is not empty,
    with its end (\\n or \\r\\n) taken off; a last line without a newline
    counts. A line may be longer than a read. It reads the file descriptor
    itself: a thread blocked reading sys.stdin holds its lock, and Python
    aborts if it exits meanwhile. A Windows console is read as UTF-8, and a
    Ctrl+C there is not the end (reads). A file descriptor that is not open
    (stdin closed at start: output.line_by_line) is one line, exit 1, here,
    before anything is sent."""
    if not is_open(fd):
        output.complain("error: standard input is closed: there are no tasks to read; give the task "
                        "as arguments, or the tasks one a line from a file (< tasks.txt)")
        sys.exit(EXIT_FAILED)
    console = windows_console(fd)
    if console is not None or (sys.platform != "win32" and os.isatty(fd)):  # (Windows: NUL is a tty)
        output.complain(f"reading tasks, one a line; end with {END_OF_INPUT}")
    return lines(reads(fd, console))


def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def lines(read):
    """lines_of's lines, from read(n): one read of up to n bytes, b"" at the end."""
    buffer = bytearray()
    number = 0
    while chunk := read(CHUNK):
        buffer += chunk
        if b"\n" not in chunk:
            continue  # a long line: wait for its end
        *whole, rest = buffer.split(b"\n")
        buffer = bytearray(rest)
        for line in whole:
            number += 1
            if line := line.rstrip(b"\r"):
                yield number, bytes(line)
    if buffer := buffer.rstrip(b"\r"):  # the last line, with no newline after it
        yield number + 1, bytes(buffer)


def windows_console(fd):
    """Python's console io for `fd` if it is a Windows console's input, else None.
    (os.read there would give the bytes of the console's code page, cp437 or
    cp850, say: what the code page lacks arrives as '?'. The console io reads
    UTF-16 with ReadConsoleW and gives UTF-8, as sys.stdin does.)"""
    console_io = getattr(io, "_WindowsConsoleIO", None)  # Windows only
    if console_io is None or not os.isatty(fd):
        return None
    raw = open(fd, "rb", buffering=0, closefd=False)  # the console io, unless PYTHONLEGACYWINDOWSSTDIO
    return raw if isinstance(raw, console_io) else None


def reads(fd, console):
    """read(n) for lines(): os.read of `fd`, or the console's (see ConsoleReads)."""
    if console is None:
        return functools.partial(os.read, fd)
    return ConsoleReads(console.read, ctrl_c_notices())


class ConsoleReads:
    """Reads of a Windows console, where Ctrl+C ends the read in hand: it
    returns nothing, as at the end of the input (or fails with
    ERROR_OPERATION_ABORTED). `interrupted` (a threading.Event) is set at
    each Ctrl+C. A read so ended is read again: a Ctrl+C stops the script
    (its SIGINT, on the main thread: exit 130), it does not end its input."""

    def __init__(self, read, interrupted, grace=CTRL_C_GRACE):
        self._read, self._interrupted, self._grace = read, interrupted, grace

    def __call__(self, size):
        while True:
            self._interrupted.clear()
            try:
                chunk = self._read(size)
            except OSError as exc:
                if getattr(exc, "winerror", None) != ERROR_OPERATION_ABORTED or not self._ctrl_c():
                    raise
                continue
            if chunk or not self._ctrl_c():
                return chunk  # b"": the end (Ctrl+Z then Enter)

    def _ctrl_c(self):
        return self._interrupted.wait(self._grace)


_console_handlers = []  # kept alive as long as Windows may call them


def ctrl_c_notices():
    """Windows: an Event set at each Ctrl+C or Ctrl+Break of the console. The
    console calls its handlers, the last added first, on a thread of its own;
    this one passes the event on (to Python's SIGINT, to signals.py)."""
    import ctypes

    noticed = threading.Event()

    @ctypes.WINFUNCTYPE(ctypes.c_int, ctypes.c_uint)
    def handler(event):
        if event in (0, 1):  # CTRL_C_EVENT, CTRL_BREAK_EVENT
            noticed.set()
        return False  # not handled here: on to the next handler

    _console_handlers.append(handler)
    ctypes.windll.kernel32.SetConsoleCtrlHandler(handler, True)
    return noticed
