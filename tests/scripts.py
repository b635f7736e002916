"""The real scripts, run as a user runs them, and what they print."""

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from brokers import wait_until

ROOT = Path(__file__).resolve().parent.parent
# As in an activated virtual environment: `./worker.py` finds this python.
SCRIPT_ENV = {k: v for k, v in os.environ.items() if k != "AMQP_URL"}
SCRIPT_ENV["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# TEST_SCRIPT_PYTHON: the command of another interpreter to run the scripts
# with, such as the Windows CPython under wine that .ci/windows-python sets up
# (`env WINEPREFIX=... wine .../python.exe`); unset, ./script as a user types it.
SCRIPT_PYTHON = shlex.split(os.environ.get("TEST_SCRIPT_PYTHON", ""))
# Where `wine` stands in it, if it does: the same words before it run `wineserver`.
WINE = next((i for i, word in enumerate(SCRIPT_PYTHON) if Path(word).name == "wine"), None)
WAITING = " [*] Waiting for messages. To exit press CTRL+C"
# What Worker.terminate() sends, as the worker names it: Windows has no SIGTERM.
STOP_SIGNAL = "Ctrl+Break" if WINE is not None else "SIGTERM"
EXIT_CONFIG = 78  # the worker's exit code for what waiting cannot mend (BSD's EX_CONFIG)
TUTORIAL_TASKS = [
    "First message.",
    "Second message..",
    "Third message...",
    "Fourth message....",
    "Fifth message.....",
]


def command(script, url, queue, *arguments):
    """./SCRIPT --url URL --queue QUEUE ARGUMENTS..., as a user types it (or
    TEST_SCRIPT_PYTHON SCRIPT ...); a url or queue of None leaves that option out."""
    options = [*(["--url", url] if url else []), *(["--queue", queue] if queue else [])]
    return [*interpreter(ROOT / script), *options, *arguments]


def interpreter(script):
    """The start of a command that runs `script`: itself, or TEST_SCRIPT_PYTHON
    and the script's path as that interpreter sees it (wine's Z: is /)."""
    if not SCRIPT_PYTHON:
        return [script]
    return [*SCRIPT_PYTHON, "Z:" + str(script).replace("/", "\\") if WINE is not None else script]


def script_python_version():
    """What runs the scripts: its version string, platform and pika."""
    asked = "import sys, pika; print(sys.version, 'on', sys.platform + ', pika', pika.__version__)"
    python = SCRIPT_PYTHON or [sys.executable]
    answer = subprocess.run([*python, "-c", asked], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return answer.stdout.strip() or f"{' '.join(python)}: {answer.stderr.strip()}"


def start_script_python():
    """Under wine, one wineserver for the session (the first program of a wine
    session starts wine's services, which hold its standard streams open as long
    as they run: here a program with none)."""
    if WINE is None:
        return
    wineserver = [*SCRIPT_PYTHON[:WINE], "wineserver"]
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run([*wineserver, "--kill"], stderr=subprocess.DEVNULL, timeout=30)  # one left from before
    subprocess.run([*wineserver, "--wait"], timeout=30)
    subprocess.run([*wineserver, "--persistent"], timeout=30, **quiet)
    subprocess.run([*SCRIPT_PYTHON, "-c", "pass"], timeout=60, **quiet)


def stop_script_python():
    """Under wine, end the session's wineserver and every wine process with it."""
    if WINE is None:
        return
    wineserver = [*SCRIPT_PYTHON[:WINE], "wineserver"]
    subprocess.run([*wineserver, "--kill"], stderr=subprocess.DEVNULL, timeout=30)
    subprocess.run([*wineserver, "--wait"], timeout=30)


def run_new_task(url, queue, *words, check=True, env=SCRIPT_ENV):
    result = subprocess.run(
        command("new_task.py", url, queue, *words), stdin=subprocess.DEVNULL,
        env=env, capture_output=True, text=True, timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def send_lines(url, queue, options, lines):
    """new_task.py - : the tasks, one a line, from one process: all queued at once."""
    sent = subprocess.run(command("new_task.py", url, queue, *options, "-"), input="".join(f"{l}\n" for l in lines),
                          env=SCRIPT_ENV, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr


def start_new_task(url, queue, *words):
    return subprocess.Popen(
        command("new_task.py", url, queue, *words), stdin=subprocess.DEVNULL,
        env=SCRIPT_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def send_from_input(url, queue, text):
    return subprocess.run(
        command("new_task.py", url, queue, "-"),
        input=text, env=SCRIPT_ENV, capture_output=True, text=True, timeout=60,
    )


class Feeder:
    """new_task.py - with its standard input a pipe the test writes to, line by line."""

    def __init__(self, url, queue, *options):
        self.process = subprocess.Popen(
            command("new_task.py", url, queue, *options, "-"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=SCRIPT_ENV, text=True, bufsize=1,
        )
        self.sent = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.sent.append(line.rstrip("\n"))

    def write(self, *lines):
        try:
            self.process.stdin.write("".join(f"{line}\n" for line in lines))
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # it has stopped reading: what it said is what counts

    def finish(self):
        """Close its input; (exit code, stderr lines)."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        code = self.process.wait(30)
        self._reader.join(5)
        return code, self.process.stderr.read().splitlines()


class Worker:
    """./worker.py in a subprocess (or another program: argv); its output
    lines, timestamped as they come."""

    started = []  # every Worker; the suite stops them after each test (conftest.py)

    def __init__(self, url, queue, *options, argv=None, env=SCRIPT_ENV):
        self.token = uuid.uuid4().hex  # how terminate() finds it on Windows
        self.process = subprocess.Popen(
            argv or command("worker.py", url, queue, *options),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(env, TEST_PROCESS_TOKEN=self.token), errors="backslashreplace",
        )
        Worker.started.append(self)
        self.out = []  # (monotonic time, line) from stdout
        self.err = []  # the same from stderr
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines):
        for line in stream:
            with self._changed:
                lines.append((time.monotonic(), line.rstrip("\n")))
                self._changed.notify_all()

    @property
    def lines(self):
        with self._changed:
            return [line for _, line in self.out]

    @property
    def errors(self):
        with self._changed:
            return [line for _, line in self.err]

    def received(self):
        prefix = " [x] Received "
        return [line[len(prefix):] for line in self.lines if line.startswith(prefix)]

    def done(self):
        """The tasks it finished: each ` [x] Received` line that its ` [x] Done`
        follows at once (a worker killed mid-task printed the first only)."""
        prefix = " [x] Received "
        lines = self.lines
        return [
            line[len(prefix):]
            for line, after in zip(lines, lines[1:])
            if line.startswith(prefix) and after == " [x] Done"
        ]

    def wait_for(self, line, count=1, timeout=30, stream="out", prefix=False):
        """Wait until `line` (or, with prefix=True, a line starting with it) has
        appeared `count` times on stdout or stderr; return the times it appeared."""
        lines = self.out if stream == "out" else self.err

        def times():
            return [t for t, text in lines if (text.startswith(line) if prefix else text == line)]

        with self._changed:
            ok = self._changed.wait_for(lambda: len(times()) >= count, timeout)
            assert ok, f"no {line!r} (x{count}) within {timeout} s; stdout {self.lines}, stderr {self.errors}"
            return times()

    def wait_ready(self, count=1, timeout=30):
        return self.wait_for(WAITING, count, timeout)

    def signal(self, signum):
        self.process.send_signal(signum)

    def interrupt(self):
        """Ctrl+C: SIGINT, which wine turns into CTRL_C_EVENT for a Windows program."""
        self.process.send_signal(signal.SIGINT)

    def terminate(self):
        """SIGTERM; for a Windows program, Ctrl+Break (CTRL_BREAK_EVENT), which
        no signal of wine's stands for: tests/ctrl_break.py delivers it."""
        if WINE is None:
            self.process.send_signal(signal.SIGTERM)
        elif self.process.poll() is None:
            pressed = subprocess.run(
                [*interpreter(ROOT / "tests" / "ctrl_break.py"), self.token],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
            )
            assert pressed.returncode == 0, pressed.stderr

    def kill(self):
        """SIGKILL: under wine, the Windows program ends as by TerminateProcess."""
        self.process.kill()
        self.process.wait(10)

    def wait_exit(self, timeout=10):
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


TUTORIAL_CLIENT = ROOT / "tests" / "tutorial_client.py"


def tutorial_client(role, url, queue, kind, *words):
    """The tutorial's own scripts (tests/tutorial_client.py): role send or work,
    kind quorum or classic."""
    return [*(interpreter(TUTORIAL_CLIENT) if SCRIPT_PYTHON else [sys.executable, TUTORIAL_CLIENT]),
            role, url, queue, kind, *words]


def queue_drained(broker, queue, timeout=30):
    """Wait until the queue has no ready and no unacknowledged task."""
    wait_until(lambda: broker.queue_counts(queue) == (0, 0), timeout, f"{queue} to drain")


def wait_for_done(workers, count, timeout):
    wait_until(
        lambda: sum(w.lines.count(" [x] Done") for w in workers) >= count,
        timeout, f"{count} tasks done",
    )


def tutorial_session(broker, queue, start_worker, *options):
    """The tutorial's session: two workers, five tasks, every other one each."""
    workers = [start_worker(queue, *options, url=broker.url) for _ in range(2)]
    for task in TUTORIAL_TASKS:
        sent = run_new_task(broker.url, queue, *task.split())
        assert sent.stdout == f" [x] Sent {task!r}\n"
    wait_for_done(workers, len(TUTORIAL_TASKS), timeout=60)

    first, second = sorted(workers, key=lambda w: len(w.received()), reverse=True)
    assert first.received() == [repr(t) for t in TUTORIAL_TASKS[0::2]]
    assert second.received() == [repr(t) for t in TUTORIAL_TASKS[1::2]]
    for worker in workers:
        expected = [WAITING]
        for task in worker.received():
            expected += [f" [x] Received {task}", " [x] Done"]
        assert worker.lines == expected
    queue_drained(broker, queue)
