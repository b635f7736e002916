#!/usr/bin/env python3
"""REFERENCE, not the product: a plain pika publisher with publisher confirms,
as pika's documentation shows it: BlockingConnection, confirm_delivery(), one
basic_publish per line of standard input, each waiting for its confirm.
"""
import sys

import pika

url, queue = sys.argv[1], sys.argv[2]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True)
channel.confirm_delivery()
for line in sys.stdin.buffer:
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=line.rstrip(b"\n"),
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        mandatory=True,
    )
    print(f" [x] Sent {line.rstrip().decode()!r}")
connection.close()
