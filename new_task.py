#!/usr/bin/env python3
"""Send one task to the work queue: ./new_task.py First message.

Each '.' in the task is one second of work for the worker that takes it.
"""

import sys

import pika

import workqueue


def main():
    parser = workqueue.argument_parser("Send one task to the work queue.")
    parser.add_argument(
        "words", nargs="*", help="the task, one second of work per '.' (default: Hello World!)"
    )
    args = parser.parse_args()
    parameters = workqueue.connection_parameters(parser, args.url)
    message = " ".join(args.words) or "Hello World!"

    try:
        connection = pika.BlockingConnection(parameters)
        channel = connection.channel()
        workqueue.declare_queue(channel, args)
        # With confirms, basic_publish returns only once the broker has the
        # task on disk, and raises if it was nacked or (mandatory) unroutable.
        channel.confirm_delivery()
        channel.basic_publish(
            exchange="",
            routing_key=args.queue,
            # surrogateescape: bytes that are not UTF-8 in argv go out as given
            body=message.encode("utf-8", "surrogateescape"),
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
            mandatory=True,
        )
    except pika.exceptions.UnroutableError:
        workqueue.fail(f"the broker returned the task: no queue {args.queue!r} took it")
    except pika.exceptions.NackError:
        workqueue.fail("the broker refused the task (nack); it was not queued")
    except workqueue.BROKER_ERRORS as exc:
        workqueue.fail(workqueue.describe(exc, parameters))
    except KeyboardInterrupt:
        print("new_task.py: interrupted; the task was not confirmed as sent", file=sys.stderr)
        sys.exit(130)

    print(f" [x] Sent {message!r}", flush=True)
    try:
        connection.close()
    except (KeyboardInterrupt, *workqueue.BROKER_ERRORS):
        pass  # the task is confirmed; a failed goodbye changes nothing


if __name__ == "__main__":
    main()
