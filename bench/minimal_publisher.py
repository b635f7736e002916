#!/usr/bin/env python3
"""REFERENCE, not the product: the ceiling for `new_task.py -` (bench/bench.py,
measure 7). The least a pipelined publisher with confirms does on pika's
SelectConnection: up to WINDOW tasks unconfirmed at once (new_task.py's
Publisher.WINDOW), ' [x] Sent' for each confirmed task, in order.

    minimal_publisher.py URL QUEUE < tasks

It reads standard input on the I/O loop itself, which would stall heartbeats
on a slow input (new_task.py reads on a thread); for a benchmark's input,
all there at once, it is the fastest way. stdout is line-buffered, as
new_task.py's is. Tasks are published as new_task.py publishes them
(persistent, mandatory); a nack or a return is an error.
"""
import collections
import sys

import pika

WINDOW = 1000
url, queue = sys.argv[1], sys.argv[2]
sys.stdout.reconfigure(line_buffering=True)
unconfirmed = collections.deque()  # (delivery tag, task), in order
confirmed = set()  # tags confirmed one by one, ahead of older ones
published = 0
all_read = False


def fill(channel):
    """Publish lines of standard input until the window is full or the input ends."""
    global published, all_read
    while not all_read and len(unconfirmed) < WINDOW:
        line = sys.stdin.buffer.readline()
        if not line:
            all_read = True
        elif line.rstrip(b"\r\n"):
            task = line.rstrip(b"\r\n")
            channel.basic_publish("", queue, task, pika.BasicProperties(delivery_mode=2), mandatory=True)
            published += 1
            unconfirmed.append((published, task))
    if all_read and not unconfirmed:
        channel.connection.close()  # ends the I/O loop (on_closed)


def on_confirm(channel, frame):
    method = frame.method
    if not isinstance(method, pika.spec.Basic.Ack):
        sys.exit(f"minimal_publisher.py: the broker refused task {method.delivery_tag}")
    confirmed.add(method.delivery_tag)
    while unconfirmed and (unconfirmed[0][0] in confirmed or (method.multiple and unconfirmed[0][0] <= method.delivery_tag)):
        tag, task = unconfirmed.popleft()
        confirmed.discard(tag)
        print(f" [x] Sent {task.decode()!r}")
    fill(channel)


def on_returned(channel, method, properties, body):
    sys.exit(f"minimal_publisher.py: the broker returned a task: no queue {queue!r} took it")


def on_channel(channel):
    channel.add_on_return_callback(on_returned)
    channel.queue_declare(queue, durable=True, callback=lambda _frame: channel.confirm_delivery(
        lambda frame: on_confirm(channel, frame), callback=lambda _frame: fill(channel)))


def on_closed(connection, reason):
    connection.ioloop.stop()
    if unconfirmed or not all_read:
        sys.exit(f"minimal_publisher.py: {reason!r}")


connection = pika.SelectConnection(
    pika.URLParameters(url),
    on_open_callback=lambda connection: connection.channel(on_open_callback=on_channel),
    on_open_error_callback=lambda connection, error: sys.exit(f"minimal_publisher.py: {error!r}"),
    on_close_callback=on_closed,
)
connection.ioloop.start()
