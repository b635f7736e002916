"""new_task.py - with tasks typed at a terminal: a Linux pseudo-terminal,
or, under wine (TEST_SCRIPT_PYTHON), the Windows console that wine makes of
it, where os.read gave the bytes of the console's code page (cp437: 'café €'
went out as b'caf\\x82 ?') and the console io gives UTF-8. Ctrl+C (SIGINT,
which wine gives the program as a console's Ctrl+C) stops it, exit 130.
(Wine's console does not end a read at Ctrl+C as Windows' does: that part is
tests/unit/test_stdin.py's, from CPython's source.)"""

import os
import queue as queues
import signal
import subprocess
import threading
import tty

import pika

from scripts import SCRIPT_ENV, WINE, command

TYPED = "café €"


def lines_of(stream, into):
    for line in iter(stream.readline, b""):
        into.put(line.rstrip(b"\r\n"))


def tasks_in(url, queue):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel, bodies = connection.channel(), []
        while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
            bodies.append(got[2])
        return bodies
    finally:
        connection.close()


def test_a_task_typed_at_a_console_goes_out_as_utf8_and_ctrl_c_stops(broker, queue):
    terminal, its_end = os.openpty()
    if WINE is not None:
        # Wine's console sets the terminal raw when the program first reads it:
        # typed earlier, a line would wait in the terminal's own line editing,
        # its Enter made a newline, which wine's console does not take for Enter.
        tty.setraw(its_end)
    process = subprocess.Popen(command("new_task.py", broker.url, queue, "-"), stdin=its_end,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SCRIPT_ENV)
    os.close(its_end)
    out, err = queues.Queue(), queues.Queue()
    readers = [threading.Thread(target=lines_of, args=(stream, lines), daemon=True)
               for stream, lines in ((process.stdout, out), (process.stderr, err))]
    for reader in readers:
        reader.start()
    try:
        hint = err.get(timeout=60).decode()  # it reads now
        assert hint.startswith("new_task.py: reading tasks, one a line; end with "), hint
        os.write(terminal, f"{TYPED}\r".encode())  # Enter, as a console's
        sent = out.get(timeout=30)
        assert sent.startswith(b" [x] Sent '"), sent  # (in the output's encoding: cp1252 under wine)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(terminal)
    for reader in readers:
        reader.join(5)
    assert err.get(timeout=5).decode() == (
        "new_task.py: interrupted; 1 task sent; none from line 2 of the input on is known to be sent")
    assert tasks_in(broker.url, queue) == [TYPED.encode("utf-8")]
