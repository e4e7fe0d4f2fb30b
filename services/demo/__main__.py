"""``python -m services.demo [flags]``: the same as ``anneal demo [flags]``."""

from __future__ import annotations

import sys

from services.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
