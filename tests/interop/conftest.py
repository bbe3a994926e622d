"""Make ``tests.interop...`` importable when pytest is run as ``pytest`` (not ``python -m``).

pytest puts ``tests/`` (the first folder without ``__init__.py``) on ``sys.path``; the
launcher's documented import path is ``tests.interop.node_op.launcher``, which needs the
repository root there too.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
