"""Between a thread and pika's I/O loop, with few wake-ups (waking a thread
that waits costs tens of µs, more than publishing a task): calls handed to
the loop in batches (Handover), and the room the loop gives back to the
thread in batches (Room). new_task.py's reader hands 10,000 tasks over in a
few dozen wake-ups."""

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


class Room:
    """Room for `size` tasks on their way: the thread takes it a task at a
    time, the I/O loop gives it back as tasks are confirmed. A thread that
    finds none waits until half of it is free: it then wakes once for many
    tasks, not once a confirm."""

    def __init__(self, size):
        self._size = size
        self._free = size
        self._changed = threading.Condition()

    def take(self):
        with self._changed:
            if self._free == 0:
                self._changed.wait_for(lambda: self._free >= self._size // 2)
            self._free -= 1

    def give_back(self, count):
        with self._changed:
            self._free += count
            if self._free >= self._size // 2:
                self._changed.notify()
