"""Run CarTrack Desktop from a checkout: python main.py [options]."""

import sys

from cartrack_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
