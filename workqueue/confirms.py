"""Publisher confirms, kept in order: which of the tasks published the
broker has confirmed, refused (nack) or returned (no queue took it), so that
' [x] Sent' follows the confirm, in the order the tasks came, and stops at
the first task not taken."""

import collections

CONFIRMED = "confirmed"


class Confirms:
    def __init__(self):
        self.unconfirmed = collections.deque()  # (delivery tag, line, task), in order
        self.confirmed = set()  # tags confirmed one by one, ahead of older tags
        self.confirmed_up_to = 0  # tags confirmed all at once ("multiple")
        self.refused = {}  # tag: why, for tasks nacked or returned
        self.published = 0  # the channel's delivery tags count 1, 2, 3 ...
        self.sent = 0  # tasks reported sent
        self.next_line = 1  # the line after the last task reported sent

    def publish(self, line, task):
        self.published += 1
        self.unconfirmed.append((self.published, line, task))

    def ack(self, tag, multiple):
        if multiple:
            self.confirmed_up_to = tag
        else:
            self.confirmed.add(tag)

    def nack(self, tag, multiple):
        for each, _line, _task in self.unconfirmed:
            if each == tag or (multiple and each < tag):
                self.refused.setdefault(each, "the broker refused a task (nack); it was not queued")

    def returned(self, body, why):
        """The broker returns a task that no queue took, then confirms it."""
        for tag, _line, task in self.unconfirmed:
            if task == body and tag not in self.refused and tag > self.confirmed_up_to and tag not in self.confirmed:
                self.refused[tag] = why
                return

    def oldest(self):
        """The oldest task not reported sent, as (line, task, answer): answer
        is CONFIRMED, why the broker refused it, or None (no answer yet).
        None when every task published is reported."""
        if not self.unconfirmed:
            return None
        tag, line, task = self.unconfirmed[0]
        if tag in self.refused:
            return line, task, self.refused[tag]
        confirmed = tag <= self.confirmed_up_to or tag in self.confirmed
        return line, task, CONFIRMED if confirmed else None

    def reported_sent(self):
        """The oldest task, confirmed, was reported sent."""
        tag, line, _task = self.unconfirmed.popleft()
        self.confirmed.discard(tag)
        self.sent += 1
        self.next_line = line + 1

    def first_unsent_line(self):
        """The first line of the input not known to be sent."""
        return self.unconfirmed[0][1] if self.unconfirmed else self.next_line
