#!/usr/bin/env python3
"""Wait until N workers (default 2) consume from the queue test_dur, then
exit 0; exit 1 if they do not within two minutes. docker-compose.yml's
tutorial profile sends its five tasks after this, as the tutorial sends them
once both workers wait: the broker counts the queue's consumers."""

import os
import sys
import time

import pika

QUEUE = "test_dur"  # the scripts' default
URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")


def consumers():
    try:
        connection = pika.BlockingConnection(pika.URLParameters(URL))
    except pika.exceptions.AMQPConnectionError:
        return 0
    try:
        return connection.channel().queue_declare(QUEUE, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:  # no queue yet: no worker has declared it
        return 0
    finally:
        if connection.is_open:
            connection.close()


def main():
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    deadline = time.monotonic() + 120
    while consumers() < wanted:
        if time.monotonic() > deadline:
            sys.exit(f"wait_for_workers.py: fewer than {wanted} workers consume from {QUEUE} after 120 s")
        time.sleep(0.5)
    print(f"wait_for_workers.py: {wanted} workers wait for tasks", file=sys.stderr)


if __name__ == "__main__":
    main()
