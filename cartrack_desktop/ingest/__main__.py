"""`python -m cartrack_desktop.ingest`: one ingest worker (see worker.py)."""

import sys

from .worker import main

sys.exit(main())
