"""Signals, noted as they come and acted on in pika's I/O loop (a handler
can interrupt pika anywhere): Ctrl+C; and the stop a service manager asks
for, SIGTERM, or Ctrl+Break in a Windows console."""

import collections
import functools
import signal

TICK = 0.2  # s between looks at the signals caught: Windows' select() does not return for Ctrl+C
CTRL_BREAK = getattr(signal, "SIGBREAK", None)  # Windows only
STOP_SIGNALS = [signal.SIGTERM, *([CTRL_BREAK] if CTRL_BREAK is not None else [])]
# The terminal, or the ssh session, is gone (POSIX; a Windows console that
# closes ends its programs, and the job object a --run command runs in).
HANG_UP = [signal.SIGHUP] if hasattr(signal, "SIGHUP") else []


def catch(ioloop, act, *signums):
    """act(signum) in the I/O loop, for each of these signals caught."""
    caught = collections.deque()
    for signum in signums:
        if signum == CTRL_BREAK:
            on_ctrl_break(functools.partial(caught.append, signum))
        else:
            signal.signal(signum, lambda signum, _frame: caught.append(signum))

    def tick():
        while caught:
            act(caught.popleft())
        ioloop.call_later(TICK, tick)

    ioloop.call_later(TICK, tick)


def name(signum):
    return "Ctrl+Break" if signum == CTRL_BREAK else signal.Signals(signum).name


def on_ctrl_break(call):
    """Windows: call() at Ctrl+Break, from the thread the console starts for
    it. A console control handler, which is what the C library's SIGBREAK is
    made of: wine delivers Ctrl+Break to it, not to SIGBREAK."""
    import ctypes

    @ctypes.WINFUNCTYPE(ctypes.c_int, ctypes.c_uint)
    def handler(event):
        if event != 1:  # CTRL_BREAK_EVENT; Ctrl+C goes on to Python's SIGINT
            return False
        call()
        return True

    _console_handlers.append(handler)  # kept alive as long as Windows may call it
    ctypes.windll.kernel32.SetConsoleCtrlHandler(handler, True)


_console_handlers = []
