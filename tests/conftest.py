"""Puts tests/ on ``sys.path`` so every suite can import the shared helpers kept here
(``call_edges``: the calls the services' code makes), as tests/k8s imports ``k8s_manifests``."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
