"""The tasks new_task.py sends: its words, or standard input's lines
(new_task.py -), read by a thread of their own while the I/O loop goes on
answering the broker."""

import collections
import functools
import io
import os
import sys
import threading

from workqueue import END_OF_INPUT, exits, output

CHUNK = 1 << 16
ROOM = 1000  # lines read ahead of those sent
# A Windows console's read that Ctrl+C ends returns nothing, as at the end of
# the input, and the console tells of the Ctrl+C on another thread, not always
# first (CPython's Parser/myreadline.c and Modules/_io/winconsoleio.c): how
# long an empty read waits for that word before it counts as the end.
CTRL_C_GRACE = 0.5
ERROR_OPERATION_ABORTED = 995  # what such a read may fail with instead


def messages(settings, connection):
    """The task, the words as one ("Hello World!" if none), as the tutorial
    makes it; or, for a single '-', each line of standard input."""
    if settings.words != ["-"]:
        return [" ".join(settings.words) or "Hello World!"]
    return Input(connection)


class Line(bytes):
    """A task read from standard input, and the number of its line."""

    def __new__(cls, number, task):
        line = super().__new__(cls, task)
        line.number = number
        return line


class Input:
    """Standard input's tasks, as the script iterates over them: read by a
    thread, handed over in batches. The reader wakes the I/O loop only when
    the loop waits for a line, and the loop wakes the reader only when the
    reader waits for room: one wake-up for many lines, not one a line."""

    def __init__(self, connection):
        self.connection = connection
        self.lines = collections.deque()
        self.changed = threading.Condition()
        self.loop_waits = self.reader_waits = False
        self.end = None  # once read to the end: "" or why it could not be read
        tasks = lines_of(sys.stdin.fileno())  # here, on the main thread: closed is one line, exit 1
        threading.Thread(target=self._read, args=(tasks,), name="reader", daemon=True).start()

    def _read(self, tasks):
        wake = self.connection.session.ioloop.add_callback_threadsafe
        end = ""
        try:
            for number, task in tasks:
                with self.changed:
                    while len(self.lines) >= ROOM:
                        self.reader_waits = True
                        self.changed.wait()
                    self.lines.append(Line(number, task))
                    if self.loop_waits:
                        self.loop_waits = False
                        wake(_nothing)
        except OSError as exc:
            end = f"cannot read standard input: {exc.strerror or exc}"
        with self.changed:
            self.end = end
            wake(_nothing)

    def __iter__(self):
        return self

    def __next__(self):
        """The next task, once read; meanwhile the I/O loop runs."""
        while True:
            with self.changed:
                if self.lines:
                    line = self.lines.popleft()
                    if self.reader_waits and len(self.lines) <= ROOM // 2:
                        self.reader_waits = False
                        self.changed.notify()
                    return line
                if self.end is not None:
                    break
                self.loop_waits = True
            self.connection.side.turn()  # what was published goes out before the wait
            self.connection.run_until(lambda: self.lines or self.end is not None)
        if self.end:
            self.connection.side.stop(self.end)
        raise StopIteration


def _nothing():
    pass


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
        sys.exit(exits.FAILED)
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
