"""Unit tests: the pure parts of the package, no broker, in seconds."""

import importlib.util
import sys
from pathlib import Path

# Until the package `workqueue/` has its __init__.py (issue 21), workqueue.py
# beside it is what `import workqueue` finds: make the folder the package here.
PACKAGE = Path(__file__).resolve().parent.parent.parent / "workqueue"
if not (PACKAGE / "__init__.py").exists():
    spec = importlib.util.spec_from_loader("workqueue", loader=None, is_package=True)
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(PACKAGE)]
    sys.modules["workqueue"] = module
