"""A task queue's set-up: declared exactly as the script declares it (the
tutorial's way), a queue that has settings of its own taken as it is, and
the dead-letter queue where the broker's policy parks a poison task
(docs/scaling-out.md), named as workqueue/retries.py names it."""

import re

from workqueue import output, retries
from workqueue.problems import INEQUIVALENT
from workqueue.session import Request

# Settings a queue may have beyond the tutorial's declaration, set by whoever
# created it (such as earlier versions of these scripts). They only add
# protection, so the scripts take such a queue as it is.
ADOPTABLE = {
    "x-delivery-limit": "delivery limit",
    "x-dead-letter-exchange": "dead-letter exchange",
    "x-dead-letter-routing-key": "dead-letter routing key",
}
THEIRS_ONLY = re.compile(r"received none but current is the value '(.*)' of type '(\w+)'$")
INTEGER_TYPES = ("byte", "short", "signedint", "long", "unsignedbyte", "unsignedshort", "unsignedint")


class TaskQueue:
    """The requests that set the queue up on each new channel (`requests`),
    and what to do when the broker refuses one of them (`mend`)."""

    def __init__(self, name, durable, arguments):
        self.name = name
        self.declared = dict(arguments or {})  # as the script declares it
        self.arguments = dict(self.declared)  # with what we adopted
        self.quorum = self.declared.get("x-queue-type") == "quorum"
        self.dead = retries.dead_queue(name)
        self.dead_letters_missing = False
        self.said_adopted = False
        self.declare = Request(
            f"answer the declaration of queue {name!r}",
            lambda channel, done: channel.queue_declare(name, durable=durable, arguments=self.arguments,
                                                        callback=done),
        )
        # A passive declare: is the queue there, and how many tasks wait in it?
        self.look = Request(
            f"answer a look at queue {name!r}",
            lambda channel, done: channel.queue_declare(name, passive=True, callback=done),
        )
        self.look_for_dead_letters = Request(
            f"answer a look for queue {self.dead!r}",
            lambda channel, done: channel.queue_declare(self.dead, passive=True, callback=done),
        )
        exchange = retries.DEAD_LETTER_EXCHANGE
        self.declare_dead_letters = [
            Request(f"answer the declaration of exchange {exchange!r}", lambda channel, done: (
                channel.exchange_declare(exchange, "direct", durable=True, callback=done))),
            Request(f"answer the declaration of queue {self.dead!r}", lambda channel, done: channel.queue_declare(
                self.dead, durable=True, arguments=retries.dead_queue_arguments(), callback=done)),
            Request(f"answer the binding of queue {self.dead!r}", lambda channel, done: channel.queue_bind(
                self.dead, exchange, routing_key=name, callback=done)),
        ]

    def requests(self):
        """The declaration and, for a quorum queue (it counts deliveries, and
        the policy parks a task that used them all in NAME.dead), a look for
        NAME.dead; only where it is missing, its declaration and binding: a
        binding needs the whole cluster's metadata store, which a network
        partition can hold up for a minute."""
        requests = [self.declare]
        if self.quorum and "x-dead-letter-exchange" not in self.arguments:
            requests += self.declare_dead_letters if self.dead_letters_missing else [self.look_for_dead_letters]
        return requests

    def mend(self, reason, request):
        """True if the broker's refusal of `request` is one we mend by setting
        up again on a new channel: the queue has a setting of its own (taken
        on), or NAME.dead is missing (declared)."""
        setting = adoptable_setting(reason)
        if request is self.declare and setting is not None:
            self.arguments[setting[0]] = setting[1]
            return True
        if request is self.look_for_dead_letters and getattr(reason, "reply_code", None) == 404:
            self.dead_letters_missing = True
            return True
        return False

    def set_up(self):
        """Every request answered: one line, once, naming the settings taken on."""
        self.dead_letters_missing = False
        if self.said_adopted:
            return
        self.said_adopted = True
        adopted = [f"{ADOPTABLE[k]} ({v!r})" for k, v in self.arguments.items() if k not in self.declared]
        if adopted:
            output.complain(f"queue {self.name!r} has its own {', '.join(adopted)}; using it as it is")


def adoptable_setting(exc):
    """(argument, value) when `exc` refused our declaration only because the
    queue has one of the ADOPTABLE settings that ours leaves out; else None."""
    found = INEQUIVALENT.search(getattr(exc, "reply_text", ""))
    if not found or found[1] not in ADOPTABLE:
        return None
    theirs = THEIRS_ONLY.search(found[3])
    if not theirs:
        return None
    value, kind = theirs.groups()
    if kind == "longstr":
        return found[1], value
    return (found[1], int(value)) if kind in INTEGER_TYPES else None
