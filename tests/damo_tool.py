"""Where the real damo (a dev dependency) is, for the tests that run it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

DAMO = Path(sys.executable).parent / "damo"
if not DAMO.exists() and shutil.which("damo"):
    DAMO = Path(shutil.which("damo") or "damo")

#: marks a test (or, as ``pytestmark``, a module) as running the real damo
needs_damo = [pytest.mark.damo,
              pytest.mark.skipif(not DAMO.exists(), reason=f"the damo executable is missing ({DAMO})")]
