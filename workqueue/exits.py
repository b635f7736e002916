"""The exit codes, one meaning each (docs/options.md#exit-codes)."""

OK = 0  # worker.py: stopped as asked (a warm stop); new_task.py: every task sent (confirmed)
FAILED = 1  # an error: the last line on stderr says which, and what became of the tasks
USAGE = 2  # argparse's: an option, URL or name that cannot be right
SOFTWARE = 70  # BSD's EX_SOFTWARE: a bug of ours; the line says so (please report it)
CONFIG = 78  # BSD's EX_CONFIG: what waiting cannot mend; a service manager should not restart
HUNG_UP = 129  # SIGHUP (the terminal or ssh session gone), as a shell reports it: 128 + 1
INTERRUPTED = 130  # Ctrl+C, as a shell reports SIGINT: 128 + 2

# What must end with the process: --run's commands (workqueue/commands.py adds itself).
AT_EXIT = []


def leave(reason, code):
    """Say why, and exit at once, from any thread: a task's work may be in
    the middle of running (not acked: it goes back to the queue)."""
    import os
    import sys

    from workqueue import output

    for end in AT_EXIT:
        end()  # nothing of a --run command runs on, orphaned
    if code in (INTERRUPTED, HUNG_UP) and _a_terminal(sys.stderr):
        output.theirs("")  # off the line where the terminal echoed ^C
    if reason:
        output.complain(reason)
    output.flush_or_drop()
    os._exit(code)


def _a_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
