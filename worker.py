#!/usr/bin/env python3
"""Take tasks from the work queue, one at a time: ./worker.py

The tutorial's worker (RabbitMQ tutorials, part 2), its calls in its order.
Each '.' in a task is one second of (fake) work; the task is acknowledged
only once the work is done, so a task whose worker dies goes to another.
The connection comes from workqueue/, and survives what pika's does not: it
reconnects and sets itself up again, answers the broker during long work,
stops warm on SIGTERM, tries failed tasks again and parks them (docs/code.md).
"""

import time

from workqueue import connect, options, redelivered, shown  # first: it says what to do if pika is missing


def work(body):
    """One second of (fake) work per dot. Put real work here: return when it
    is done, raise when it failed (tried again later, then parked);
    --time-limit bounds one that hangs; a task may run twice (a worker killed
    before its ack), so make it safe to repeat. See docs/real-work.md."""
    time.sleep(body.count(b"."))


settings = options.worker_settings()
connection = connect(settings)
channel = connection.channel()

channel.queue_declare(queue=settings.queue, durable=True, arguments=settings.queue_arguments)
print(" [*] Waiting for messages. To exit press CTRL+C")


def callback(ch, method, properties, body):
    print(f" [x] Received {shown(body)}{redelivered(method, properties)}")
    if settings.command is None:
        work(body)
    else:
        settings.command.run(body)  # --run COMMAND, the task its last argument: docs/real-work.md
    print(" [x] Done")
    ch.basic_ack(delivery_tag=method.delivery_tag)


channel.basic_qos(prefetch_count=settings.prefetch)
channel.basic_consume(queue=settings.queue, on_message_callback=callback, auto_ack=settings.no_ack)

channel.start_consuming()
