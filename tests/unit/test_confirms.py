"""workqueue/confirms.py: publisher confirms kept in order, as new_task.py
reads them: ' [x] Sent' for each confirmed task in the order they came, up to
the first one not answered yet, or refused."""

import pytest

from workqueue.confirms import CONFIRMED, Confirms

RETURNED = "the broker returned a task: no queue 'test_dur' took it"
NACKED = "the broker refused a task (nack); it was not queued"


def published(*tasks):
    """Confirms with `tasks` published, from lines 1, 2, 3 ..."""
    confirms = Confirms()
    for line, task in enumerate(tasks, 1):
        confirms.publish(line, task)
    return confirms


def report(confirms):
    """As new_task.py's report_sent: the tasks reported sent, in order, and
    where it stopped: None (waiting for an answer, or all reported) or why
    the broker refused the oldest."""
    sent = []
    while (oldest := confirms.oldest()) is not None:
        _line, task, answer = oldest
        if answer is None:
            return sent, None
        if answer is not CONFIRMED:
            return sent, answer
        sent.append(task)
        confirms.reported_sent()
    return sent, None


def test_confirms_in_order():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(1, multiple=False)
    assert report(confirms) == ([b"a"], None)
    confirms.ack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert report(confirms) == ([b"b", b"c"], None)
    assert (confirms.sent, confirms.oldest(), confirms.first_unsent_line()) == (3, None, 4)


def test_a_multiple_ack_confirms_every_task_up_to_its_tag():
    confirms = published(b"a", b"b", b"c", b"d")
    confirms.ack(3, multiple=True)
    assert report(confirms) == ([b"a", b"b", b"c"], None)
    assert confirms.oldest() == (4, b"d", None)


def test_a_later_confirm_waits_for_the_earlier_one():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert report(confirms) == ([], None)  # b and c are confirmed, but a is not yet
    assert confirms.oldest() == (1, b"a", None)
    confirms.ack(1, multiple=False)
    assert report(confirms) == ([b"a", b"b", b"c"], None)


def test_a_multiple_ack_after_a_later_single_one():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(3, multiple=False)
    confirms.ack(2, multiple=True)
    assert report(confirms) == ([b"a", b"b", b"c"], None)


def test_a_nack_stops_the_report_at_that_task():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(1, multiple=False)
    confirms.nack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert report(confirms) == ([b"a"], NACKED)
    assert confirms.oldest() == (2, b"b", NACKED)
    assert confirms.first_unsent_line() == 2


def test_a_multiple_nack_refuses_every_task_up_to_its_tag():
    confirms = published(b"a", b"b", b"c")
    confirms.nack(2, multiple=True)
    assert confirms.oldest() == (1, b"a", NACKED)
    assert set(confirms.refused) == {1, 2}
    assert report(confirms) == ([], NACKED)


def test_a_returned_task_is_refused_though_then_confirmed():
    confirms = published(b"a", b"b")
    confirms.returned(b"b", RETURNED)  # the broker returns it, then acks it
    confirms.ack(2, multiple=True)
    assert report(confirms) == ([b"a"], RETURNED)
    assert confirms.oldest() == (2, b"b", RETURNED)


def test_returns_of_the_same_task_twice_refuse_both():
    confirms = published(b"x", b"x")
    confirms.returned(b"x", RETURNED)
    confirms.returned(b"x", RETURNED)
    assert set(confirms.refused) == {1, 2}


def test_a_return_refuses_the_task_not_yet_confirmed():
    """The broker returns a task before it confirms it; a task with the same
    body confirmed ahead of it (while an earlier one is unanswered) was sent."""
    confirms = published(b"first", b"x", b"x")
    confirms.ack(2, multiple=False)  # out of order: line 1 still unanswered
    confirms.returned(b"x", RETURNED)  # tag 3's, before its confirm
    confirms.ack(3, multiple=False)
    confirms.ack(1, multiple=False)
    assert report(confirms) == ([b"first", b"x"], RETURNED)
    assert confirms.first_unsent_line() == 3


@pytest.mark.parametrize(
    "answers, line",
    [
        ([], 1),  # none published: the first line
        ([("ack", 2, True)], 3),  # some confirmed: the line after them
        ([("ack", 1, False), ("ack", 3, False)], 2),  # some pending: the oldest of them
        ([("ack", 1, False), ("nack", 2, False)], 2),  # refused: that one
    ],
)
def test_the_first_line_not_known_to_be_sent(answers, line):
    confirms = published(b"a", b"b", b"c")
    for answer, tag, multiple in answers:
        getattr(confirms, answer)(tag, multiple)
    report(confirms)
    assert confirms.first_unsent_line() == line


def test_the_first_unsent_line_with_nothing_published():
    assert Confirms().first_unsent_line() == 1


def test_lines_skipped_in_the_input_count():
    """Blank lines are not published: the first unsent line is the next task's line, or the one after the last sent."""
    confirms = Confirms()
    confirms.publish(2, b"a")
    confirms.publish(5, b"b")
    confirms.ack(1, multiple=False)
    report(confirms)
    assert confirms.first_unsent_line() == 5
    confirms.ack(2, multiple=False)
    report(confirms)
    assert confirms.first_unsent_line() == 6
