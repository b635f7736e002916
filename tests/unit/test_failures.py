"""A failure's reason in words, and the user's traceback without ours."""

import pytest

from workqueue import failures
from workqueue.time_limit import TimeLimit


@pytest.mark.parametrize(
    "code, windows, reason",
    [
        (0, False, None), (3, False, "exit status 3"), (-9, False, "killed by SIGKILL"),
        (-15, False, "killed by SIGTERM"), (0, True, None), (1, True, "exit status 1"),
        (0xC000013A, True, "exit status 0xC000013A"), (-1073741819, True, "exit status 0xC0000005"),
    ],
)
def test_exit_reason(code, windows, reason):
    assert failures.exit_reason(code, windows) == reason


def test_time_limit_reason():
    assert TimeLimit(2).reason == "ran past its time limit of 2 s"
    assert TimeLimit(0.5).reason == "ran past its time limit of 0.5 s"


@pytest.mark.parametrize(
    "exc, reason",
    [
        (RuntimeError("could not resize the image"), "RuntimeError: could not resize the image"),
        (KeyError("photo"), "KeyError: 'photo'"),
        (ValueError("two\nlines"), "ValueError: two lines"),
        (ZeroDivisionError(), "ZeroDivisionError"),
        (failures.TaskFailed("exit status 3"), "exit status 3"),
    ],
)
def test_exception_reason(exc, reason):
    assert failures.exception_reason(exc) == reason


def test_a_long_exception_message_is_cut():
    reason = failures.exception_reason(ValueError("x" * 200_000))
    assert len(reason) == failures.LONGEST_REASON and reason.startswith("ValueError: xxx") and reason.endswith("\u2026")


def users_work(body):
    raise RuntimeError("could not resize the image")


def our_task_thread():
    return our_caller()


def our_caller():
    try:
        users_work(b"x")
    except RuntimeError as exc:
        return failures.users_traceback(exc, users_work)


def test_the_users_traceback_starts_at_their_work():
    shown = our_caller()
    assert shown.startswith("Traceback (most recent call last):\n")
    assert "users_work" in shown and "our_caller" not in shown and "our_task_thread" not in shown
    assert shown.endswith("RuntimeError: could not resize the image\n")
