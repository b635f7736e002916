"""Tasks from standard input, one a line (new_task.py -)."""

import os

from workqueue import END_OF_INPUT, output

CHUNK = 1 << 16


def lines_of(fd):
    """(line number, task) for each line of the file `fd` that is not empty,
    with its end (\\n or \\r\\n) taken off; a last line without a newline
    counts. A line may be longer than a read. It reads the file descriptor
    itself: a thread blocked reading sys.stdin holds its lock, and Python
    aborts if it exits meanwhile."""
    if os.isatty(fd):
        output.complain(f"reading tasks, one a line; end with {END_OF_INPUT}")
    buffer = bytearray()
    number = 0
    while chunk := os.read(fd, CHUNK):
        buffer += chunk
        if b"\n" not in chunk:
            continue  # a long line: wait for its end
        *lines, rest = buffer.split(b"\n")
        buffer = bytearray(rest)
        for line in lines:
            number += 1
            if line := line.rstrip(b"\r"):
                yield number, bytes(line)
    if buffer := buffer.rstrip(b"\r"):  # the last line, with no newline after it
        yield number + 1, bytes(buffer)
