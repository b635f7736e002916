"""workqueue/tasks.py's note on a redelivery, and workqueue/output.py's way
of showing a task: what the tutorial's lines print."""

import pytest
from pika.spec import Basic, BasicProperties

from workqueue.output import shown
from workqueue.consuming import redelivered


@pytest.mark.parametrize(
    "was_redelivered, headers, note",
    [
        (False, None, ""),
        (False, {"x-delivery-count": 2}, ""),
        (True, None, " (redelivered)"),  # a classic queue counts no deliveries
        (True, {}, " (redelivered)"),
        (True, {"other": 1}, " (redelivered)"),
        (True, {"x-delivery-count": 0}, " (redelivered)"),
        (True, {"x-delivery-count": 1}, " (redelivered, delivery 2)"),  # a quorum queue's count of earlier deliveries
        (True, {"x-delivery-count": 4}, " (redelivered, delivery 5)"),
        # Another client's odd values count as absent.
        (True, {"x-delivery-count": "2"}, " (redelivered)"),
        (True, {"x-delivery-count": True}, " (redelivered)"),
        (True, {"x-delivery-count": -1}, " (redelivered)"),
        (True, {"x-delivery-count": 2.5}, " (redelivered)"),
    ],
)
def test_redelivery_note(was_redelivered, headers, note):
    method = Basic.Deliver(consumer_tag="ctag", delivery_tag=1, redelivered=was_redelivered, routing_key="test_dur")
    assert redelivered(method, BasicProperties(headers=headers)) == note


@pytest.mark.parametrize(
    "body, text",
    [
        (b"Hello World!", "'Hello World!'"),
        (b"A very hard task which takes two seconds..", "'A very hard task which takes two seconds..'"),
        ("héllo €".encode(), "'héllo €'"),
        (b"it's", '"it\'s"'),
        (b"tab\there", "'tab\\there'"),
        (b"", "''"),
        (b"\xff\xfe", "b'\\xff\\xfe'"),  # not UTF-8: its bytes
        ("é".encode("latin-1"), "b'\\xe9'"),
    ],
)
def test_shown(body, text):
    assert shown(body) == text
