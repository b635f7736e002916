"""--run COMMAND's words: split as the platform's shell would split them
(POSIX: shlex; Windows: the rules of the C runtime and CommandLineToArgvW),
its program found on PATH, and the task's text as one last argument. No
shell ever runs (workqueue/commands.py runs it)."""

import ntpath
import os
import shlex
import shutil
import sys

ON_WINDOWS = sys.platform == "win32"
# A batch file runs under cmd.exe, which reads its arguments as commands
# (CVE-2024-24576, "BatBadBut"): a task's text must never reach it.
BATCH_FILES = (".bat", ".cmd")


class BadCommand(ValueError):
    """COMMAND cannot be run: the one line says why."""


# Splitting COMMAND into words.
def split(command, windows=ON_WINDOWS):
    """COMMAND's words, as the platform's shell or C runtime splits them."""
    words = split_windows(command) if windows else split_posix(command)
    if not words or not words[0]:
        raise BadCommand("--run needs a command, such as --run 'python3 make_thumbnail.py'")
    return words


def split_posix(command):
    try:
        return shlex.split(command)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise BadCommand(f"--run {command!r}: {str(exc)[0].lower()}{str(exc)[1:]}") from None


def split_windows(command):
    """The words of a Windows command line, as the Microsoft C runtime (and
    CommandLineToArgvW) makes argv of it: the program's name may be quoted,
    its backslashes are its own; in the other words, 2n backslashes before a
    quote are n and the quote toggles quoting, 2n+1 are n and a literal quote,
    "" inside quotes is a literal quote, other backslashes are themselves."""
    words, i, n = [], 0, len(command)
    blank = " \t"
    while i < n and command[i] in blank:
        i += 1
    if i == n:
        return words
    # The program's name: quotes group, nothing escapes.
    word, quoted = [], False
    while i < n and (quoted or command[i] not in blank):
        if command[i] == '"':
            quoted = not quoted
        else:
            word.append(command[i])
        i += 1
    words.append("".join(word))
    # The arguments.
    while True:
        while i < n and command[i] in blank:
            i += 1
        if i == n:
            return words
        word, quoted = [], False
        while True:
            backslashes = 0
            while i < n and command[i] == "\\":
                backslashes += 1
                i += 1
            literal = True
            if i < n and command[i] == '"':
                if backslashes % 2 == 0:
                    if quoted and i + 1 < n and command[i + 1] == '"':
                        i += 1  # "" inside quotes: one literal quote
                    else:
                        literal = False
                        quoted = not quoted
                backslashes //= 2
            word.append("\\" * backslashes)
            if i == n or (not quoted and command[i] in blank):
                break
            if literal:
                word.append(command[i])
            i += 1
        words.append("".join(word))


def task_argument(body, windows=ON_WINDOWS):
    """The task's text as one argument. POSIX arguments are bytes: a body that
    is not UTF-8 goes as it is (os.fsdecode's surrogates encode back to the
    same bytes). Windows arguments are UTF-16 text: such bytes become U+FFFD."""
    return body.decode("utf-8", "replace") if windows else os.fsdecode(body)


def prepare(command, windows=ON_WINDOWS):
    """COMMAND's words with its program found on PATH, as the shell would find
    it; BadCommand if it cannot be run."""
    words = split(command, windows)
    program = shutil.which(words[0])
    if program is None:
        raise BadCommand(f"--run: no program {words[0]!r} found (not on PATH, or not executable)")
    if windows and is_batch_file(program):
        raise BadCommand(
            f"--run: {words[0]!r} is a batch file, which cmd.exe runs reading its arguments as "
            "commands: a task's text must not go there; run a program (python, powershell -File ...)"
        )
    return [program, *words[1:]]


def is_batch_file(path):
    """Whether Windows runs `path` as a batch file (CVE-2024-24576 and the
    names that slipped past its first fixes): its file name as Windows opens
    it, an NTFS stream (x.bat::$DATA, x.bat:name) and then trailing dots
    and spaces (x.bat., x.bat ) taken off, ends in .bat or .cmd, in any case."""
    name = ntpath.basename(ntpath.splitdrive(path)[1]).partition(":")[0]
    return name.rstrip(". ").lower().endswith(BATCH_FILES)
