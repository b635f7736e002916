#!/usr/bin/env python3
"""REFERENCE, not the product: the tutorial's worker as written, on pika 1.x.

Sleeps and acks inside pika's callback. Kept only so the benchmark can measure
ours against the tutorial's shape on the same broker, in the same run.
"""
import sys
import time

import pika

url, queue = sys.argv[1], sys.argv[2]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True)
print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)


def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()!r}", flush=True)
    time.sleep(body.count(b"."))
    print(" [x] Done", flush=True)
    ch.basic_ack(delivery_tag=method.delivery_tag)


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue=queue, on_message_callback=callback)
channel.start_consuming()
