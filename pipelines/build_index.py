"""Offline job: validate a canonical-schema dataset folder and build a new index version.

    python pipelines/build_index.py --data DIR --index indexes/NAME [--encoder NAME] [--config FILE]

Same as `recsys build`; kept as a script for schedulers that run files rather than console scripts.
"""

from __future__ import annotations

import sys

from recsys.cli.main import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "build", *sys.argv[1:]]
    main()
