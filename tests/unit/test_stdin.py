"""workqueue/stdin.py: tasks from standard input, one a line, read from a
pipe (not a terminal) as new_task.py - reads them."""

import os
import threading

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
