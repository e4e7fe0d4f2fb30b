"""Fixtures of the Label Studio bridge tests (tests/labelstudio/bridge_rig.py)."""

from bridge_rig import rig  # noqa: F401
from label_studio_server import label_studio  # noqa: F401
