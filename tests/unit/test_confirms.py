"""workqueue/confirms.py: publisher confirms kept in order, as both scripts
read them: new_task.py says ' [x] Sent' for each confirmed task in the order
they came, up to the first one not answered yet, or refused; the worker acks
a failed task once its copy is confirmed."""

from hypothesis import given, strategies as st

from workqueue.confirms import CONFIRMED, REFUSED, RETURNED, Confirms


def published(*bodies):
    confirms = Confirms()
    for body in bodies:
        confirms.publish(body, body)
    return confirms


def answered(confirms):
    return list(confirms.answered())


def test_confirms_in_order():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(1, multiple=False)
    assert answered(confirms) == [(b"a", CONFIRMED)]
    confirms.ack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert answered(confirms) == [(b"b", CONFIRMED), (b"c", CONFIRMED)]
    assert confirms.oldest() is None and answered(confirms) == []


def test_a_multiple_ack_confirms_every_message_up_to_its_tag():
    confirms = published(b"a", b"b", b"c", b"d")
    confirms.ack(3, multiple=True)
    assert [item for item, _ in answered(confirms)] == [b"a", b"b", b"c"]
    assert confirms.oldest() == b"d"


def test_a_later_confirm_waits_for_the_earlier_one():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert answered(confirms) == []  # b and c are confirmed, but a is not yet
    assert confirms.oldest() == b"a"
    confirms.ack(1, multiple=False)
    assert [item for item, _ in answered(confirms)] == [b"a", b"b", b"c"]


def test_a_nack_is_that_message_refused():
    confirms = published(b"a", b"b", b"c")
    confirms.ack(1, multiple=False)
    confirms.nack(2, multiple=False)
    confirms.ack(3, multiple=False)
    assert answered(confirms) == [(b"a", CONFIRMED), (b"b", REFUSED), (b"c", CONFIRMED)]


def test_a_multiple_nack_refuses_every_message_up_to_its_tag():
    confirms = published(b"a", b"b", b"c")
    confirms.nack(2, multiple=True)
    assert answered(confirms) == [(b"a", REFUSED), (b"b", REFUSED)]


def test_a_returned_message_stays_returned_though_then_confirmed():
    confirms = published(b"a", b"b")
    confirms.returned(b"b")  # the broker returns it, then acks it
    confirms.ack(2, multiple=False)
    confirms.ack(2, multiple=True)
    assert answered(confirms) == [(b"a", CONFIRMED), (b"b", RETURNED)]


def test_a_return_is_the_oldest_such_message_not_yet_confirmed():
    confirms = published(b"first", b"x", b"x")
    confirms.ack(2, multiple=False)  # out of order: 1 still unanswered
    confirms.returned(b"x")  # tag 3's, before its confirm
    confirms.ack(3, multiple=False)
    confirms.ack(1, multiple=False)
    assert answered(confirms) == [(b"first", CONFIRMED), (b"x", CONFIRMED), (b"x", RETURNED)]


# The broker's answers in any order it may send them: each message answered
# once, in the order published, with its own answer.
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.sampled_from(["ack", "nack", "return"]), min_size=n, max_size=n),
    st.permutations(range(1, n + 1)), st.lists(st.booleans(), min_size=n, max_size=n))))
def test_every_message_is_answered_once_in_order(case):
    n, kinds, order, multiples = case
    confirms = published(*(f"m{tag}".encode() for tag in range(1, n + 1)))
    expected, got = {}, []
    for tag in order:  # returns come before their message's confirm
        kind = kinds[tag - 1]
        if kind == "return":
            confirms.returned(f"m{tag}".encode())
    for tag in order:
        kind = kinds[tag - 1]
        # A multiple ack only where every earlier one is answered the same way already.
        multiple = multiples[tag - 1] and kind == "ack" and all(
            kinds[t - 1] == "ack" and t in expected for t in range(1, tag))
        if kind == "nack":
            confirms.nack(tag, False)
        else:
            confirms.ack(tag, multiple)
        expected[tag] = {"ack": CONFIRMED, "nack": REFUSED, "return": RETURNED}[kind]
        got += answered(confirms)
    assert got == [(f"m{tag}".encode(), expected[tag]) for tag in range(1, n + 1)]
