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


def after(parameters, lost):
    """The URLs to try next, starting after the one just lost (None: no
    connection was made): a node that accepts connections but cannot serve
    the queue must not get this worker back at once."""
    if lost not in parameters:
        return list(parameters)
    at = parameters.index(lost) + 1
    return parameters[at:] + parameters[:at]
