"""The program the tests give worker.py --run: what it does is the task's
text, its last argument ("VERB REST"). On Linux and Windows alike.

    echo REST       print its arguments, exit 0
    fail CODE       exit CODE
    slow-fail CODE  sleep 2 s, then exit CODE
    flaky MARKER    fail (exit 3) the first time, when MARKER does not exist yet; then exit 0
    sleep SECONDS   sleep, exit 0
    hang FOLDER     start a child; each beats (writes the time) into FOLDER/parent and
                    FOLDER/child every 0.1 s for 120 s; the child ignores SIGTERM
    -ANYTHING       a task that looks like an option: print its arguments, exit 0
"""

import os
import signal
import subprocess
import sys
import time

BEAT = """
import signal, sys, time
if hasattr(signal, "SIGTERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL to its group (or its job) ends it
end = time.monotonic() + 120
while time.monotonic() < end:
    with open(sys.argv[1], "w") as beat:
        beat.write(repr(time.time()))
    time.sleep(0.1)
"""


def beat(path, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(path, "w") as file:
            file.write(repr(time.time()))
        time.sleep(0.1)


def main():
    verb, _, rest = sys.argv[-1].partition(" ")
    if verb == "echo" or verb.startswith("-"):
        print(f"arguments: {sys.argv[1:]!r}", flush=True)
    elif verb == "fail":
        sys.exit(int(rest))
    elif verb == "slow-fail":
        time.sleep(2)
        sys.exit(int(rest))
    elif verb == "flaky":
        if not os.path.exists(rest):
            open(rest, "w").close()
            sys.exit(3)
    elif verb == "sleep":
        time.sleep(float(rest))
    elif verb == "hang":
        subprocess.Popen([sys.executable, "-c", BEAT, os.path.join(rest, "child")])
        beat(os.path.join(rest, "parent"), 120)
    else:
        sys.exit(f"task_command.py: no verb {verb!r}")


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
