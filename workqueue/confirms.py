"""Publisher confirms, kept in order, for both scripts: which of the
messages published on a channel the broker has confirmed, refused (nack) or
returned (no queue took it; the broker returns it, then confirms it).
answered() gives them in the order they were published, up to the first one
not answered yet: new_task.py says ' [x] Sent' in its tasks' order and stops
at the first the broker did not take; the worker acks a failed task once the
broker has its copy."""

import collections

CONFIRMED, REFUSED, RETURNED = "confirmed", "refused (basic.nack)", "returned (no queue took it)"


class Confirms:
    def __init__(self):
        self.unanswered = collections.deque()  # (delivery tag, item, body), in the order published
        self.answers = {}  # tag: answer, for tags answered one by one, or refused, or returned
        self.confirmed_up_to = 0  # tags confirmed all at once ("multiple")
        self.published = 0  # a channel's delivery tags count 1, 2, 3 ...

    def publish(self, item, body):
        """`item` was published (its body `body`): its answer is awaited."""
        self.published += 1
        self.unanswered.append((self.published, item, body))

    def ack(self, tag, multiple):
        if multiple:
            self.confirmed_up_to = max(self.confirmed_up_to, tag)
        else:
            self.answers.setdefault(tag, CONFIRMED)  # a return came first: it stays returned

    def nack(self, tag, multiple):
        for each, _item, _body in self.unanswered:
            if each == tag or (multiple and each < tag):
                self.answers[each] = REFUSED

    def returned(self, body):
        """A message with this body came back: the oldest such one unanswered."""
        for tag, _item, each in self.unanswered:
            if each == body and tag not in self.answers and tag > self.confirmed_up_to:
                self.answers[tag] = RETURNED
                return

    def answered(self):
        """(item, answer) for the oldest messages answered, in order, each once;
        it stops at the first one not answered yet."""
        while self.unanswered:
            tag, item, _body = self.unanswered[0]
            answer = self.answers.pop(tag, None) or (CONFIRMED if tag <= self.confirmed_up_to else None)
            if answer is None:
                return
            self.unanswered.popleft()
            yield item, answer

    def oldest(self):
        """The oldest message's item not answered yet, or None."""
        return self.unanswered[0][1] if self.unanswered else None
