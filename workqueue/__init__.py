"""The machinery of new_task.py and worker.py, one concern a module
(docs/code.md says which holds what). The scripts import this package
first: without pika, it says in one line what to do.
"""

import os
import sys

SCRIPT = os.path.basename(sys.argv[0])
ON_WINDOWS = sys.platform == "win32"
# What the user types, where the two kinds of consoles differ.
ACTIVATE = r".venv\Scripts\activate" if ON_WINDOWS else ". .venv/bin/activate"
END_OF_INPUT = "Ctrl+Z then Enter" if ON_WINDOWS else "Ctrl+D"
# RabbitMQ's limit for a queue's name, in bytes of UTF-8: the name given
# (options.py) and those of the queues made from it (retries.py).
LONGEST_NAME = 255

try:
    import pika  # noqa: F401
except ModuleNotFoundError:  # run outside the virtual environment
    sys.exit(
        f"{SCRIPT}: error: pika is not installed for {sys.executable}: activate the "
        f"virtual environment ({ACTIVATE}) or pip install -r requirements.txt"
    )

# What the scripts import from here, each loaded when a script imports it
# (new_task.py starts without the worker's modules).
FOR_THE_SCRIPTS = {
    "connect": "workqueue.connection",  # the connection, whose channel speaks pika
    "messages": "workqueue.stdin",  # new_task.py's task, or standard input's
    "shown": "workqueue.output",  # a task as the tutorial prints it
    "redelivered": "workqueue.consuming",  # the note after ' [x] Received' on a redelivery
}


def __getattr__(name):
    if name not in FOR_THE_SCRIPTS:
        raise AttributeError(f"module 'workqueue' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(FOR_THE_SCRIPTS[name]), name)
