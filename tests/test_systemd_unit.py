"""systemd/work-queues-worker@.service passes `systemd-analyze verify` with
nothing to say, installed where it says (the prefix /opt/work-queues moved to
a folder of the test's own); and verify does catch a broken unit."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "work-queues-worker@.service"
PREFIX = "/opt/work-queues"


def verify(unit_text, tmp_path):
    """The unit, with its install prefix in tmp_path (a venv's python and
    worker.py there, as the README installs them), through `systemd-analyze
    verify` (of the instance @1); what it said, stdout and stderr."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("needs systemd-analyze (apt-get install systemd)")
    prefix = tmp_path / "work-queues"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    (prefix / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (prefix / "worker.py").symlink_to(UNIT.parent.parent / "worker.py")
    unit = tmp_path / "work-queues-worker@1.service"
    unit.write_text(unit_text.replace(PREFIX, str(prefix)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True, timeout=60
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def test_the_unit_verifies_clean(tmp_path):
    text = UNIT.read_text()
    assert text.count(PREFIX) >= 2  # ExecStart's python and worker.py, moved below
    assert verify(text, tmp_path) == (0, "")


@pytest.mark.parametrize(
    "broken, complaint",
    [
        (("Restart=on-failure", "Restart=on-falure"), "Failed to parse service restart specifier"),
        (("RestartPreventExitStatus=", "RestartPreventExitStatuss="), "Unknown key"),
        (("/.venv/bin/python", "/.venv/bin/pyton"), "is not executable"),
    ],
)
def test_verify_catches_a_broken_unit(tmp_path, broken, complaint):
    text = UNIT.read_text()
    assert broken[0] in text
    code, said = verify(text.replace(broken[0], broken[1]), tmp_path)
    assert complaint in said
