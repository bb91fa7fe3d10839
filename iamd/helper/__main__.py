"""``python -m iamd.helper credential-process|serve ...``."""

from __future__ import annotations

import sys

from iamd.helper.cli import main

if __name__ == "__main__":
    sys.exit(main())
