"""--time-limit, the one owner of both limits: a task still running after
it has failed. A --run command is waited for no longer (workqueue/commands.py
then ends it, with all it started). The Python work() nothing can stop:
Python cannot kill a thread, and an exception sent into it would neither
interrupt a blocking call nor release what the work holds; so at the limit
its task fails, and the worker leaves (workqueue/life.py), so that the work
ends with the process (docs/real-work.md)."""

import functools
import subprocess
import time


class TimeLimit:
    def __init__(self, seconds):
        self.seconds = seconds
        self.reason = f"ran past its time limit of {seconds:g} s"

    def wait(self, popen):
        """A --run command's exit status, or None if it still runs at the limit."""
        try:
            return popen.wait(self.seconds)
        except subprocess.TimeoutExpired:
            return None

    def watch(self, ioloop, task, past):
        """The Python work of `task` starts now (on the tasks thread):
        past(task) on the I/O loop if it is still running at the limit.
        Returns what stops the watch (on the I/O loop)."""
        started = time.monotonic()
        timer, stopped = [], []

        def start():  # on the I/O loop, which may come to it a little after the work started
            if not stopped:
                left = max(0.0, self.seconds - (time.monotonic() - started))
                timer.append(ioloop.call_later(left, functools.partial(past, task)))

        def stop():
            stopped.append(True)
            if timer:
                ioloop.remove_timeout(timer.pop())

        ioloop.add_callback_threadsafe(start)
        return stop
