"""Counting a queue's tasks. The exact count of tasks waiting is the queue's
own, from an AMQP passive declare (ready_count); rabbitmqctl list_queues is
what also counts the unacknowledged (Broker.queue_counts, parse_queue_counts
here), and the connections (connection_names)."""

import re

import pika


def ready_count(url, queue):
    """Tasks waiting in the queue, as the queue itself counts them now.
    (rabbitmqctl's counts for quorum queues are statistics, seconds old.)"""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def consumer_count(url, queue):
    """Workers consuming from the queue now, as the queue itself counts them;
    0 where the queue is not declared yet."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:  # not declared yet
        return 0
    finally:
        if connection.is_open:
            connection.close()


def connection_names(broker):
    """The client-provided names of the broker's connections: our scripts
    call theirs "worker.py (pid N)"."""
    listing = broker.rabbitmqctl("-s", "list_connections", "client_properties")
    return re.findall(r'"connection_name",(?:\w+,)?"([^"]*)"', listing)


def parse_queue_counts(listing, queue):
    """(ready, unacknowledged) from `rabbitmqctl -s list_queues name messages_ready
    messages_unacknowledged`; (0, 0) for a queue that does not exist."""
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == queue:
            return int(fields[1]), int(fields[2])
    return 0, 0
