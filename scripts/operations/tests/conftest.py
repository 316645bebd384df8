"""Import paths: the scripts under test, the handler (to make real artifacts) and its test helpers."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
for path in (REPO / "scripts" / "operations", REPO / "handler", REPO / "handler" / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
