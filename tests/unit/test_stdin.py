"""workqueue/stdin.py: tasks from standard input, one a line, read from a
pipe (not a terminal) as new_task.py - reads them."""

import io
import os
import threading
import time

import pytest

from workqueue import END_OF_INPUT, stdin
from workqueue.stdin import lines_of


def read(data, chunk=None, monkeypatch=None):
    """lines_of over a pipe that `data` is written into, by a thread: a pipe
    holds 64 KiB, less than the longest input here."""
    if chunk is not None:
        monkeypatch.setattr(stdin, "CHUNK", chunk)  # reads this short cut lines and \r\n apart
    reading, writing = os.pipe()

    def write():
        with open(writing, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return list(lines_of(reading))
    finally:
        writer.join()
        os.close(reading)


CASES = [
    pytest.param(b"First message.\nSecond message..\n", [(1, b"First message."), (2, b"Second message..")], id="lines"),
    pytest.param(b"a\r\nb\r\n", [(1, b"a"), (2, b"b")], id="CRLF"),
    pytest.param(b"a\n\n\r\nb\n", [(1, b"a"), (4, b"b")], id="blank lines skipped but counted"),
    pytest.param(b"a\nlast", [(1, b"a"), (2, b"last")], id="a last line without a newline"),
    pytest.param(b"a\nlast\r", [(1, b"a"), (2, b"last")], id="a last line ending in CR"),
    pytest.param(b"", [], id="empty input"),
    pytest.param(b"\r", [], id="only CR"),
    pytest.param(b"\r\n\r\nx\n", [(3, b"x")], id="lines of only CR"),
    pytest.param(b"\n\n\n", [], id="only newlines"),
    pytest.param(" é €\n".encode(), [(1, " é €".encode())], id="UTF-8 and spaces kept"),
    pytest.param(b"\xff\xfe\n", [(1, b"\xff\xfe")], id="bytes that are not UTF-8"),
]


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
@pytest.mark.parametrize("data, lines", CASES)
def test_lines_of(data, lines, chunk, monkeypatch):
    assert read(data, chunk, monkeypatch) == lines


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_line_longer_than_a_read(end):
    long = b"x" * (200 * 1024)
    assert read(b"first" + end + long + end + b"next" + end) == [(1, b"first"), (2, long), (3, b"next")]


def test_a_long_last_line_without_a_newline():
    long = b"y" * (200 * 1024)
    assert read(b"first\n" + long) == [(1, b"first"), (2, long)]


def test_many_lines():
    data = b"".join(b"task %d\n" % n for n in range(1, 20001))
    lines = read(data)
    assert len(lines) == 20000
    assert lines[0] == (1, b"task 1") and lines[-1] == (20000, b"task 20000")


def test_a_pipe_gets_no_hint(capfd):
    read(b"a\n")
    assert capfd.readouterr().err == ""


def test_a_terminal_gets_a_hint(capsys, monkeypatch):
    monkeypatch.setattr(stdin.os, "isatty", lambda fd: True)
    read(b"a\n")
    assert f"reading tasks, one a line; end with {END_OF_INPUT}" in capsys.readouterr().err


# Standard input closed at start (output.line_by_line makes sys.stdin a
# Closed, whose fileno() is -1): one line, exit 1, before anything is read.
@pytest.mark.parametrize("fd", ["closed", -1], ids=["a closed descriptor", "Closed().fileno()"])
def test_a_closed_input_is_one_line_and_exit_1_when_lines_of_is_called(fd, capsys, monkeypatch):
    """When called, not when iterated: new_task.py calls it before it connects."""
    monkeypatch.setattr(stdin.output, "SCRIPT", "new_task.py")
    if fd == "closed":
        fd, other = os.pipe()
        os.close(fd)
        os.close(other)
    with pytest.raises(SystemExit) as leaving:
        lines_of(fd)
    assert leaving.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "new_task.py: error: standard input is closed: there are no tasks to read; give the task as "
        "arguments, or the tasks one a line from a file (< tasks.txt)"
    ]


@pytest.mark.parametrize("console_io, tty, chosen", [
    (None, True, False),  # not Windows: os.read
    ("FileIO", False, False),  # Windows, a pipe or a file: os.read
    ("FileIO", True, True),  # Windows, a console (open() gives the console io): read through it
    ("BytesIO", True, False),  # Windows, a tty that is no console (NUL), or PYTHONLEGACYWINDOWSSTDIO
])
def test_a_windows_console_is_read_through_pythons_console_io(console_io, tty, chosen, monkeypatch):
    """What open(fd, "rb", buffering=0) gives stands in for io._WindowsConsoleIO here."""
    if console_io is None:
        monkeypatch.delattr(stdin.io, "_WindowsConsoleIO", raising=False)
    else:
        monkeypatch.setattr(stdin.io, "_WindowsConsoleIO", getattr(io, console_io), raising=False)
    monkeypatch.setattr(stdin.os, "isatty", lambda fd: tty)
    reading, writing = os.pipe()
    try:
        console = stdin.windows_console(reading)
        assert (console is not None) == chosen
        if chosen:
            assert console.fileno() == reading and not console.closefd
    finally:
        os.close(reading)
        os.close(writing)


# A Windows console's reads (ConsoleReads), as winconsoleio.c gives them:
# Ctrl+C ends the read in hand with nothing (or ERROR_OPERATION_ABORTED), and
# the console's word of the Ctrl+C comes on another thread, before or after.
def aborted():
    """Windows' OSError for ERROR_OPERATION_ABORTED (winerror is Windows' own attribute)."""
    error = OSError(22, "The I/O operation has been aborted")
    error.winerror = stdin.ERROR_OPERATION_ABORTED
    return error


class FakeConsole:
    """Each step: bytes to return, an OSError to raise, or "ctrl-c": nothing
    returned, and the Ctrl+C noticed `after` seconds later, from a thread."""

    def __init__(self, steps, interrupted, after=0.0):
        self.steps, self.interrupted, self.after = list(steps), interrupted, after

    def read(self, size):
        step = self.steps.pop(0)
        if step == "ctrl-c":
            threading.Timer(self.after, self.interrupted.set).start()
            return b""
        if step == "ctrl-c, aborted":
            threading.Timer(self.after, self.interrupted.set).start()
            raise aborted()
        if isinstance(step, Exception):
            raise step
        return step


def console_lines(steps, after=0.0, grace=0.5):
    interrupted = threading.Event()
    console = FakeConsole(steps, interrupted, after)
    return list(stdin.lines(stdin.ConsoleReads(console.read, interrupted, grace))), console


@pytest.mark.parametrize("after", [0.0, 0.2], ids=["its word first", "its word after the read"])
@pytest.mark.parametrize("ctrl_c", ["ctrl-c", "ctrl-c, aborted"])
def test_a_ctrl_c_at_the_console_is_not_the_end_of_the_input(ctrl_c, after):
    lines, console = console_lines([b"first\r\n", ctrl_c, b"second\r\n", b""], after)
    assert lines == [(1, b"first"), (2, b"second")]
    assert console.steps == []  # it read on after the Ctrl+C, to the real end


def test_the_end_of_a_console_input_is_its_end():
    """Ctrl+Z then Enter: nothing returned, and no Ctrl+C within the grace."""
    started = time.monotonic()
    lines, _ = console_lines([b"caf\xc3\xa9\r\n", b""], grace=0.3)
    assert lines == [(1, b"caf\xc3\xa9")]
    assert 0.3 <= time.monotonic() - started < 5


def test_another_console_error_is_an_error():
    with pytest.raises(OSError, match="broken"):
        console_lines([b"a\r\n", OSError(5, "broken")])


def test_an_abort_with_no_ctrl_c_is_an_error():
    interrupted = threading.Event()
    reads = stdin.ConsoleReads(FakeConsole([aborted()],
                                           interrupted).read, interrupted, grace=0.1)
    with pytest.raises(OSError, match="aborted"):
        reads(10)
