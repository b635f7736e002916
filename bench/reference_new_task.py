#!/usr/bin/env python3
"""REFERENCE, not the product: the tutorial's new_task.py as written, on pika 1.x.

Persistent message on a durable queue, no publisher confirms.
"""
import sys

import pika

url, queue, message = sys.argv[1], sys.argv[2], " ".join(sys.argv[3:]) or "Hello World!"
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True)
channel.basic_publish(
    exchange="",
    routing_key=queue,
    body=message,
    properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
)
print(f" [x] Sent {message!r}")
connection.close()
