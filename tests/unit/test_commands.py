"""--run COMMAND: splitting it as a shell would, a batch file refused on
Windows, the task's text as one argument, and a real command (with a child)
ended at its time limit."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workqueue import command_line, commands
from workqueue.time_limit import TimeLimit
from workqueue.failures import TaskFailed

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


@pytest.mark.parametrize(
    "command, words",
    [
        ("python3 make_thumbnail.py", ["python3", "make_thumbnail.py"]),
        ("  convert   -resize 50%  ", ["convert", "-resize", "50%"]),
        ("cmd 'one word' \"two words\"", ["cmd", "one word", "two words"]),
        (r"cmd a\ b 'it'\''s'", ["cmd", "a b", "it's"]),
        ("cmd 'x;y' '$(z)' '`w`'", ["cmd", "x;y", "$(z)", "`w`"]),
        ("cmd # not a comment", ["cmd", "#", "not", "a", "comment"]),
    ],
)
def test_posix_splitting_is_the_shells(command, words):
    assert command_line.split(command, windows=False) == words


@pytest.mark.parametrize(
    "command, words",
    [
        # The examples of Microsoft's "Parsing C command-line arguments".
        (r'prog "a b c" d e', ["prog", "a b c", "d", "e"]),
        (r'prog "ab\"c" "\\" d', ["prog", 'ab"c', "\\", "d"]),
        (r'prog a\\\b d"e f"g h', ["prog", r"a\\\b", "de fg", "h"]),
        (r'prog a\\\"b c d', ["prog", r'a\"b', "c", "d"]),
        (r'prog a\\\\"b c" d e', ["prog", r"a\\b c", "d", "e"]),
        (r'prog a"b"" c d', ["prog", 'ab" c d']),
        # The program's name: quotes group, backslashes are its own.
        (r'"C:\Program Files\Python312\python.exe" make_thumbnail.py',
         [r"C:\Program Files\Python312\python.exe", "make_thumbnail.py"]),
        (r'C:\tools\x\ "y"', [r"C:\tools\x" + "\\", "y"]),
        ('prog "" x', ["prog", "", "x"]),
        ("prog\ta\t\tb", ["prog", "a", "b"]),
        ('prog "unterminated quote', ["prog", "unterminated quote"]),
    ],
)
def test_windows_splitting_is_the_c_runtimes(command, words):
    assert command_line.split(command, windows=True) == words


@pytest.mark.parametrize("windows", [False, True])
def test_windows_splitting_undoes_what_subprocess_joins(windows):
    """subprocess.list2cmdline quotes for the C runtime: our split undoes it."""
    args = ["prog", "plain", "two words", 'a "quote"', "back\\slash\\", "\\\\server\\share", "", "tab\there"]
    assert command_line.split_windows(subprocess.list2cmdline(args)) == args


@pytest.mark.parametrize(
    "command, windows", [("", False), ("   ", False), ("''", False), ("", True), (" \t ", True), ('""', True)]
)
def test_no_command_is_refused(command, windows):
    with pytest.raises(command_line.BadCommand, match="--run needs a command"):
        command_line.split(command, windows=windows)


def test_an_unclosed_quote_is_refused_in_one_line():
    with pytest.raises(command_line.BadCommand, match=r"^--run \"it's\": no closing quotation$"):
        command_line.split("it's", windows=False)


def test_a_program_not_found_is_refused():
    with pytest.raises(command_line.BadCommand, match="no program 'no-such-program-here' found"):
        command_line.prepare("no-such-program-here --flag", windows=False)


def test_the_program_is_found_on_path():
    words = command_line.prepare(f"{os.path.basename(sys.executable)} -c pass", windows=False)
    assert os.path.isabs(words[0]) and words[1:] == ["-c", "pass"]


# A batch file runs under cmd.exe, which reads its arguments as commands
# (CVE-2024-24576, "BatBadBut"). Windows opens x.bat. and x.bat  (trailing
# dots and spaces) and x.bat::$DATA (its NTFS stream) as x.bat.
BATCH_NAMES = ["x.bat", "x.cmd", "X.BAT", "x.Cmd", "x.bat.", "x.bat...", "x.bat ", "x.cmd . .",
               "x.bat::$DATA", "x.BAT:stream:$DATA", "x.cmd.::$DATA", r"C:\tools\x.bat.", r"C:x.bat ",
               "C:/tools/x.CMD", r"\\server\share\x.bat::$DATA"]
NOT_BATCH_NAMES = ["x.exe", "x.bat.exe", "x.bat .exe", "bat", "x.py", r"C:\x.bat\y.exe", r"C:\cmd", r"x.bat:.\y.exe"]


@pytest.mark.parametrize("name", BATCH_NAMES)
def test_a_name_windows_opens_as_a_batch_file_is_one(name):
    assert command_line.is_batch_file(name)


@pytest.mark.parametrize("name", NOT_BATCH_NAMES)
def test_other_programs_are_not_batch_files(name):
    assert not command_line.is_batch_file(name)


NAME_PART = st.text(st.characters(blacklist_characters=":\\/", blacklist_categories=("Cs",)), max_size=12)
ANY_CASE = st.sampled_from(["bat", "cmd"]).flatmap(
    lambda ext: st.tuples(*(st.sampled_from([c, c.upper()]) for c in ext)).map("".join))
DOTS_AND_SPACES = st.text(". ", max_size=6)
STREAMS = st.sampled_from(["", "::$DATA", ":s", ":s:$DATA"])


@given(folder=NAME_PART.filter(bool), stem=NAME_PART, ext=ANY_CASE, tail=DOTS_AND_SPACES, stream=STREAMS)
def test_any_batch_file_with_what_windows_ignores_after_it_is_one(folder, stem, ext, tail, stream):
    assert command_line.is_batch_file(f"C:\\{folder}\\{stem}.{ext}{tail}{stream}")


@given(stem=NAME_PART, ext=ANY_CASE, other=st.sampled_from(["exe", "com", "py", "ps1"]), tail=DOTS_AND_SPACES)
def test_a_program_named_after_a_batch_file_is_not_one(stem, ext, other, tail):
    assert not command_line.is_batch_file(f"{stem}.{ext}.{other}{tail}")


@pytest.mark.parametrize("name", ["x.bat", "X.BAT", "x.bat.", "x.bat ", "x.cmd. .", "x.bat::$DATA"])
def test_a_batch_file_on_path_is_refused_on_windows(name, tmp_path, monkeypatch):
    """As prepare() finds it: shutil.which gives the name as typed, which
    Windows then opens as x.bat (here a Linux file of that very name)."""
    program = tmp_path / name
    program.write_text("@echo %*\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(command_line.BadCommand, match=r"is a batch file, which cmd\.exe runs"):
        command_line.prepare(f'"{name}" --flag', windows=True)


@pytest.mark.parametrize(
    "body, windows, argument",
    [
        (b"ls; rm -rf / $(id) `id` 'q' \"q\"\nnext", False, "ls; rm -rf / $(id) `id` 'q' \"q\"\nnext"),
        ("caf\u00e9".encode(), False, "caf\u00e9"),
        (b"caf\xe9", False, os.fsdecode(b"caf\xe9")),
        (b"caf\xe9", True, "caf\ufffd"),
    ],
)
def test_the_task_is_one_argument_verbatim(body, windows, argument):
    assert command_line.task_argument(body, windows) == argument
    if not windows:
        assert os.fsencode(command_line.task_argument(body, windows)) == body


# A real command.
def python_command(code):
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_a_command_that_exits_0_is_done():
    commands.Command(python_command("import sys; assert sys.argv[1] == 'x; y'")).run(b"x; y")


@pytest.mark.parametrize(
    "code, reason",
    [
        ("import sys; sys.exit(3)", "exit status 3"),
        *([("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL")]
          if sys.platform != "win32" else []),
    ],
)
def test_a_command_that_fails_says_why(code, reason):
    with pytest.raises(TaskFailed) as failed:
        commands.Command(python_command(code)).run(b"task")
    assert failed.value.reason == reason


def test_a_task_with_a_nul_byte_fails_without_running():
    with pytest.raises(TaskFailed, match="NUL byte"):
        commands.Command(python_command("pass")).run(b"a\0b")


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


# A command that starts a child which ignores SIGTERM, writes both pids, and
# sleeps: only SIGKILL to its whole group ends them.
PARENT_AND_CHILD = """
    import os, signal, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
    with open(sys.argv[1], "w") as pids:
        pids.write(f"{os.getpid()} {child.pid}")
    time.sleep(120)
"""


@POSIX_ONLY
def test_a_command_past_its_time_limit_is_ended_with_its_child(tmp_path):
    pids = tmp_path / "pids"
    command = commands.Command(python_command(PARENT_AND_CHILD), time_limit=TimeLimit(1))
    started = time.monotonic()
    with pytest.raises(TaskFailed) as failed:
        command.run(os.fsencode(pids))
    took = time.monotonic() - started
    assert failed.value.reason == "ran past its time limit of 1 s"
    assert took < 1 + commands.GRACE + 1, took
    parent, child = map(int, pids.read_text().split())
    wait_for(lambda: pid_gone(parent) and pid_gone(child), 2, "end of the command and its child")


@POSIX_ONLY
def test_what_a_command_leaves_running_is_ended_with_it(tmp_path):
    pids = tmp_path / "pids"
    leaves_a_child = PARENT_AND_CHILD.rsplit("time.sleep(120)", 1)[0]  # it exits at once
    commands.Command(python_command(leaves_a_child)).run(os.fsencode(pids))
    _parent, child = map(int, pids.read_text().split())
    wait_for(lambda: pid_gone(child), 2, "end of the child left running")


@POSIX_ONLY
def test_end_now_ends_the_command_at_once_from_another_thread(tmp_path):
    import threading

    pids = tmp_path / "pids"
    command = commands.Command(python_command(PARENT_AND_CHILD))
    outcome = []

    def run():
        try:
            command.run(os.fsencode(pids))
        except TaskFailed as failed:
            outcome.append(failed.reason)

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: pids.exists() and pids.read_text(), 10, "the command's pids")
    command.end_now()
    thread.join(5)
    assert outcome == ["killed by SIGKILL"]
    parent, child = map(int, pids.read_text().split())
    wait_for(lambda: pid_gone(parent) and pid_gone(child), 2, "end of the command and its child")
    with pytest.raises(TaskFailed, match="leaving"):
        command.run(b"after")
