"""A password is never printed, whatever it holds: 20 broker URLs with odd
passwords, as people paste them (unescaped '/', '?', '#', '@', spaces, ...),
given to the real scripts by --url or AMQP_URL. No broker: a URL that
parses points at a closed port, and a worker, which would try it for ever,
is stopped after its first line."""

import subprocess

import pytest

from brokers import free_port
from scripts import SCRIPT_ENV, Worker, command

PORT = free_port()  # nothing listens there
HOST = f"127.0.0.1:{PORT}"

# (how the URL is given, the URL, its passwords, pieces of them that must not show either)
URLS = [
    ("--url", f"amqp://guest:se/cret@{HOST}/%2F", ["se/cret"], ["cret"]),
    ("--url", f"amqp://guest:se?cret@{HOST}/%2F", ["se?cret"], ["cret"]),
    ("--url", f"amqp://guest:se#cret@{HOST}/%2F", ["se#cret"], ["cret"]),
    ("--url", f"amqp://guest:trailing/@{HOST}/%2F", ["trailing/"], ["trailing"]),
    ("--url", f"amqp://guest:/leading@{HOST}/%2F", ["/leading"], ["leading"]),
    ("--url", f"amqp://guest:a?b#c/d@{HOST}/%2F", ["a?b#c/d"], []),
    ("--url", f"amqp://guest:p@ss@word@{HOST}/%2F", ["p@ss@word"], []),
    ("--url", f"amqp://guest:50%off:x@{HOST}/%2F", ["50%off:x"], ["50%off"]),
    ("--url", f"amqp://guest:pass word@{HOST}/%2F", ["pass word"], []),
    ("--url", f"amqp://guest:pässwörd€@{HOST}/%2F", ["pässwörd€"], []),
    ("--url", f"amqp://guest:[brackets]@{HOST}/%2F", ["[brackets]"], ["brackets"]),
    ("--url", f"amqp://guest:quo'te\"back\\slash@{HOST}/%2F", ["quo'te\"back\\slash"], ["back\\slash"]),
    ("--url", f"amqp://guest:Zm9v/YmFy+YmF6==@{HOST}/%2F", ["Zm9v/YmFy+YmF6=="], ["Zm9v", "YmFy+YmF6=="]),  # base64
    ("--url", f"amqp://tenant/user:Pa55word@{HOST}/%2F", ["Pa55word"], []),  # a '/' in the user name
    ("--url", "amqp://guest:hunter2/x@127.0.0.1:notaport/", ["hunter2/x"], ["hunter2"]),
    ("--url", f"amqp://guest:[::1/@{HOST}/%2F", ["[::1/"], []),
    ("AMQP_URL", f"amqp://guest:se/cret@{HOST}/%2F", ["se/cret"], ["cret"]),
    ("AMQP_URL", f"amqp://guest:x?y=1&heartbeat=2@{HOST}/", ["x?y=1&heartbeat=2"], ["y=1&heartbeat=2"]),
    ("AMQP_URL", f"amqp://guest:guest@{HOST}/%2F,amqp://guest:sec/ret@{HOST}/%2F", ["sec/ret"], []),
    ("--url", f"amqp://a:first/one@{HOST}/,amqp://b:second#two@{HOST}/", ["first/one", "second#two"], ["second"]),
]


def run(script, given, url):
    """What `script` prints (stdout and stderr) when given `url`: new_task.py
    to its end; the worker until its first diagnostic line (a usage error, or
    the broker it cannot reach, which it would try again for ever)."""
    env = dict(SCRIPT_ENV, AMQP_URL=url) if given == "AMQP_URL" else SCRIPT_ENV
    url_option = url if given == "--url" else None
    if script == "new_task.py":
        result = subprocess.run(
            command("new_task.py", url_option, None, "--timeout", "2", "x"),
            stdin=subprocess.DEVNULL, env=env, capture_output=True, text=True, timeout=60,
            errors="backslashreplace",
        )
        assert result.returncode in (1, 2), result.stderr  # refused, or no broker there
        return result.stdout + result.stderr
    worker = Worker(url_option, None, "--timeout", "2", env=env)
    try:
        worker.wait_for("worker.py: ", stream="err", prefix=True, timeout=30)
    finally:
        worker.stop()
    worker.wait_exit()
    return "\n".join(worker.lines + worker.errors)


def printed(secret, text):
    """The secret in the text as it is, or as a repr() escapes it."""
    return secret in text or repr(secret)[1:-1] in text


def test_no_password_is_printed(capsys):
    """Each URL to both scripts; today's figure is printed for the record."""
    whole, pieces, texts = set(), set(), []
    for number, (given, url, passwords, parts) in enumerate(URLS):
        for script in ("new_task.py", "worker.py"):
            text = run(script, given, url)
            if any(printed(password, text) for password in passwords):
                whole.add(number)
                texts.append(text)
            elif any(printed(part, text) for part in parts):
                pieces.add(number)
                texts.append(text)
    with capsys.disabled():
        print(f"\n{len(whole | pieces)} of {len(URLS)} URLs printed their password "
              f"({len(whole)} whole, {len(pieces)} a piece of it)")
    assert texts == []


@pytest.mark.parametrize("given", ["--url", "AMQP_URL"])
def test_an_unescaped_slash_in_a_password_is_explained_and_named(given):
    text = run("new_task.py", given, f"amqp://guest:se/cret@{HOST}/%2F")
    last = text.splitlines()[-1]
    source = "argument --url" if given == "--url" else "AMQP_URL"
    assert last.startswith(f"new_task.py: error: {source}: 'amqp://***@{HOST}/%2F': ")
    assert "%2F %3F %23" in last
    assert "cret" not in text and "Traceback" not in text
