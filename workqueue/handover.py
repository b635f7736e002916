"""Calls handed from a thread to pika's I/O loop, in order, in batches: one
wake-up of the loop (add_callback_threadsafe, a write to its pipe) for all
the calls made meanwhile rather than one a call. new_task.py's reader hands
10,000 tasks over in a few dozen wake-ups."""

import collections
import threading


class Handover:
    def __init__(self, ioloop):
        self._wake = ioloop.add_callback_threadsafe
        self._calls = collections.deque()  # (function, args), in the order handed over
        self._lock = threading.Lock()
        self._woken = False  # a wake-up is on its way: the calls handed over now go with it

    def call(self, function, *args):
        """From any thread: function(*args) on the I/O loop, after the calls handed over before."""
        self._calls.append((function, args))
        with self._lock:
            woken, self._woken = self._woken, True
        if not woken:
            self._wake(self._run)

    def _run(self):
        with self._lock:
            self._woken = False  # from here on, a call handed over wakes the loop again
        while self._calls:
            function, args = self._calls.popleft()
            function(*args)
