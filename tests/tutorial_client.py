#!/usr/bin/env python3
"""Another client on the same queue: the tutorial's own new_task.py and
worker.py, as today's official tutorial writes them on pika 1.x, with the
queue declared either way the tutorials declare it:

    tutorial_client.py send URL QUEUE quorum|classic TASK
    tutorial_client.py work URL QUEUE quorum|classic

quorum: `task_queue` in today's tutorial (durable, x-queue-type quorum);
classic: the seed tutorial's `test_dur` (durable). No confirms, no retries,
no error handling: exactly what users mix ours with, and what the benchmark
(bench/bench.py) measures ours against.
"""
import sys
import time

import pika

role, url, queue, kind = sys.argv[1:5]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
arguments = {"x-queue-type": "quorum"} if kind == "quorum" else None
channel.queue_declare(queue=queue, durable=True, arguments=arguments)

if role == "send":
    message = " ".join(sys.argv[5:]) or "Hello World!"
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )
    print(f" [x] Sent {message!r}")
    connection.close()
else:
    print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)

    def callback(ch, method, properties, body):
        print(f" [x] Received {body.decode()!r}", flush=True)
        time.sleep(body.count(b"."))
        print(" [x] Done", flush=True)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=callback)
    channel.start_consuming()
