"""The unit tests: the pure parts of the package `workqueue`, imported from
the repository root as the scripts import it. No broker, no script run:
tests/conftest.py skips its broker checks when only tests/unit is asked for
(`python -m pytest tests/unit`)."""

import sys
from pathlib import Path

REPOSITORY = str(Path(__file__).resolve().parents[2])
if REPOSITORY not in sys.path:
    sys.path.insert(0, REPOSITORY)
