"""Reconnecting, in one place: how long to wait before the next attempt,
and which URL to try first."""

import random


class Backoff:
    """Capped exponential backoff, with jitter so that restarted workers do not
    all knock at once: 0.5 s, 1 s, 2 s ... up to 10 s, each 80-100 % of that."""

    FIRST, CAP = 0.5, 10.0

    def __init__(self, uniform=random.uniform):
        self.attempt = 0
        self._uniform = uniform

    def reset(self):
        self.attempt = 0

    def next_delay(self):
        delay = min(self.CAP, self.FIRST * 2 ** min(self.attempt, 16)) * self._uniform(0.8, 1.0)  # no float overflow after hours
        self.attempt += 1
        return delay


class Reconnect:
    """After a connection is lost: the delay before the next attempt, and the
    URLs (`parameters`, reordered in place) starting after the one just lost:
    a node that accepts connections but cannot serve the queue must not get
    this worker back at once."""

    def __init__(self, parameters):
        self.parameters = parameters
        self.backoff = Backoff()

    def connected(self):
        """Consuming again: the next loss starts from the shortest delay."""
        self.backoff.reset()

    def after_losing(self, connected_to):
        """Rotate past `connected_to` (None: no connection was made); the delay."""
        if connected_to in self.parameters:
            at = self.parameters.index(connected_to) + 1
            self.parameters[:] = self.parameters[at:] + self.parameters[:at]
        return self.backoff.next_delay()
