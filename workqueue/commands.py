"""--run COMMAND: each task done by a program, with the task's text as its
last argument.

COMMAND is split into words as the platform's shell would split it
(workqueue/command_line.py), but no shell ever runs: the task's text is one argument, verbatim, whatever `;`,
`$(...)`, quotes, backquotes or newlines it holds. The program's output is
the worker's (inherited), so it shows between ` [x] Received` and the task's
last line. Exit 0 is done; any other exit, or a signal, is failed.

A command ends with everything it started: on POSIX it leads a session (and
process group) of its own, and what is left of the group when it exits, or
all of it at its time limit, gets SIGTERM, then SIGKILL after GRACE; on
Windows it runs in a job object that is terminated (and that the system
closes, killing its processes, if the worker dies).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import weakref

from workqueue import exits
from workqueue.command_line import task_argument
from workqueue.failures import TaskFailed, exit_reason

ON_WINDOWS = sys.platform == "win32"
if ON_WINDOWS:
    from workqueue import windows_jobs
GRACE = 2.0  # s a command's processes have between SIGTERM and SIGKILL
_COMMANDS = weakref.WeakSet()  # for end_running()


# Running it.
def end_running():
    """The worker leaves at once: end every command of --run still running."""
    for command in list(_COMMANDS):
        command.end_now()


exits.AT_EXIT.append(end_running)


class Command:
    """COMMAND of --run, run once per task on the tasks thread; end_now() may
    be called from another thread (the worker leaving at once)."""

    def __init__(self, words, time_limit=None):
        """`time_limit`: a time_limit.TimeLimit, or None."""
        _COMMANDS.add(self)
        self.words = words
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._running = None  # the Process of the task in hand
        self._ended = False

    def run(self, body):
        """Run the command for a task: return when it exited 0, else raise
        TaskFailed with the reason."""
        argv = [*self.words, task_argument(body)]
        with self._lock:
            if self._ended:
                raise TaskFailed("the worker is leaving")
            try:
                process = self._running = Process(argv)
            except ValueError:  # subprocess: "embedded null byte"
                raise TaskFailed("the task holds a NUL byte, which no program's argument can carry") from None
            except OSError as exc:
                raise TaskFailed(f"cannot start {self.words[0]}: {exc.strerror or exc}") from None
        try:
            returncode = process.wait(self.time_limit)  # None: past the limit
        finally:
            process.end()  # what it left running, or all of it at the time limit
            with self._lock:
                self._running = None
        if returncode is None:
            raise TaskFailed(self.time_limit.reason)
        reason = exit_reason(returncode, ON_WINDOWS)
        if reason is not None:
            raise TaskFailed(reason)

    def end_now(self):
        """The worker leaves at once (Ctrl+C): end the command in hand with all
        it started, without grace, so that nothing of it runs on orphaned."""
        with self._lock:
            self._ended = True
            if self._running is not None:
                self._running.kill()


class Process:
    """A command's process and everything it starts: its own process group
    (POSIX) or job object (Windows)."""

    def __init__(self, argv):
        self._lock = threading.Lock()  # kill() may come from another thread while end() runs
        streams = dict(stdin=subprocess.DEVNULL, stdout=_inherited(sys.stdout), stderr=_inherited(sys.stderr))
        if ON_WINDOWS:
            self._job = windows_jobs.Job()
            self._popen = self._job.start(argv, **streams)
        else:
            self._popen = subprocess.Popen(argv, start_new_session=True, **streams)

    def wait(self, limit):
        """The exit status, or None if it was still running at `limit` (a TimeLimit, or None)."""
        return self._popen.wait() if limit is None else limit.wait(self._popen)

    def end(self):
        """End whatever of it still runs: SIGTERM to its group, SIGKILL to what
        is left after GRACE (POSIX); terminate its job (Windows)."""
        if ON_WINDOWS:
            with self._lock:
                self._job.close()  # ends what is left of it
            self._popen.wait()
            return
        group = self._popen.pid  # it leads its session, so its pid names its group
        if not _signal_group(group, signal.SIGTERM):
            self._popen.wait()
            return
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline:
            self._popen.poll()  # reap the leader, which would keep the group alive
            if not _signal_group(group, 0):
                break
            time.sleep(0.05)
        else:
            _signal_group(group, signal.SIGKILL)
        self._popen.wait()

    def kill(self):
        """End it all now."""
        if ON_WINDOWS:
            with self._lock:
                self._job.terminate()
        else:
            _signal_group(self._popen.pid, signal.SIGKILL)


def _signal_group(group, signum):
    """Send `signum` to the process group; False if none of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # one of it became another user's (setuid): nothing more we may do
        return False
    return True


def _inherited(stream):
    """The file descriptor of the worker's stream, for the command to write
    to; None (Popen's default, also inherited) if it has none."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
