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
