#!/usr/bin/env python3
"""Send a task to the work queue: ./new_task.py First message.
or many, one a line, from standard input: seq 1000 | ./new_task.py -

The tutorial's new_task.py (RabbitMQ tutorials, part 2), its calls in its
order. Each '.' in a task is one second of work for the worker that takes
it. ' [x] Sent ...' is printed once the broker has confirmed the task (on
disk: publisher confirms). The connection comes from workqueue/: a deadline
on every answer of the broker, the confirms kept in order (docs/code.md).
"""

from workqueue import connect, messages, options, shown  # first: it says what to do if pika is missing

import pika


def sent(body):
    """The broker has confirmed this task."""
    print(f" [x] Sent {shown(body)}")


settings = options.new_task_settings()
connection = connect(settings)
channel = connection.channel()

channel.queue_declare(queue=settings.queue, durable=True, arguments=settings.queue_arguments)
channel.confirm_delivery(sent)

for message in messages(settings, connection):  # the words ("Hello World!" if none), or each line of input
    channel.basic_publish(
        exchange="",
        routing_key=settings.queue,
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )
connection.close()
