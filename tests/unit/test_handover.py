"""workqueue/handover.py: calls handed from a thread to pika's I/O loop (a
real one, without a connection) run there, in order, with one wake-up of the
loop for all the calls handed over meanwhile."""

import threading

from pika.adapters.select_connection import IOLoop

from workqueue.handover import Handover, Room


class CountingIOLoop(IOLoop):
    wake_ups = 0

    def add_callback_threadsafe(self, callback):
        self.wake_ups += 1
        super().add_callback_threadsafe(callback)


def test_calls_from_a_thread_run_on_the_loop_in_order_with_fewer_wake_ups_than_calls():
    ioloop = CountingIOLoop()
    handover = Handover(ioloop)
    ran = []  # (number, thread) of each call

    def call(number):
        ran.append((number, threading.current_thread()))

    def hand_over():
        for number in range(10_000):
            handover.call(call, number)
        handover.call(ioloop.stop)

    thread = threading.Thread(target=hand_over)
    ioloop.add_callback_threadsafe(thread.start)  # once the loop runs
    timer = ioloop.call_later(30, ioloop.stop)  # a deadline, should the calls not come
    ioloop.start()
    ioloop.remove_timeout(timer)
    thread.join(5)

    assert [number for number, _thread in ran] == list(range(10_000))
    assert {each for _number, each in ran} == {threading.main_thread()}
    assert ioloop.wake_ups - 1 < 10_000 / 10  # batches, not one a call (1: the thread's start)


def test_a_call_handed_over_after_a_batch_ran_wakes_the_loop_again():
    ioloop = CountingIOLoop()
    handover = Handover(ioloop)
    ran = []

    def first_call():
        ran.append(1)
        # From a thread started once this batch is over: its call must wake the loop again.
        ioloop.call_later(0, threading.Thread(target=lambda: handover.call(last_call)).start)

    def last_call():
        ran.append(2)
        ioloop.stop()

    threading.Thread(target=lambda: handover.call(first_call)).start()
    timer = ioloop.call_later(10, ioloop.stop)
    ioloop.start()
    ioloop.remove_timeout(timer)
    assert ran == [1, 2]


def test_a_thread_out_of_room_waits_until_half_of_it_is_free():
    room = Room(10)
    for _ in range(10):
        room.take()  # room for ten at once: no waiting
    took = threading.Event()
    thread = threading.Thread(target=lambda: (room.take(), took.set()))
    thread.start()
    room.give_back(4)
    assert not took.wait(0.3)  # 4 of 10 free: it goes on waiting
    room.give_back(1)
    assert took.wait(5)  # half free: it takes one
    thread.join(5)
    for _ in range(4):
        room.take()  # the rest without waiting
