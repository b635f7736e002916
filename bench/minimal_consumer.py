#!/usr/bin/env python3
"""REFERENCE, not the product: pika's floor for the drain (bench/bench.py,
measure 1). The least a consumer of the tutorial's loop does on pika's
SelectConnection: qos 1 (or PREFETCH), print both lines, ack each task
alone in the callback.

    minimal_consumer.py URL QUEUE [PREFETCH]

stdout is line-buffered, as ours (workqueue.line_by_line_output) and the
tutorial's (print(..., flush=True)) are: each line is written at once, so it
shows line by line in a pipe; a block buffer would be faster and unfair.
"""
import sys

import pika

url, queue = sys.argv[1], sys.argv[2]
prefetch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
sys.stdout.reconfigure(line_buffering=True)


def on_message(channel, method, properties, body):
    print(f" [x] Received {body.decode()!r}")
    print(" [x] Done")
    channel.basic_ack(method.delivery_tag)


def on_channel(channel):
    channel.basic_qos(prefetch_count=prefetch)
    channel.basic_consume(queue, on_message)
    print(" [*] Waiting for messages. To exit press CTRL+C")


connection = pika.SelectConnection(
    pika.URLParameters(url), on_open_callback=lambda connection: connection.channel(on_open_callback=on_channel)
)
connection.ioloop.start()
