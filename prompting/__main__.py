"""``python -m prompting``: the headless CLI."""

import sys

from prompting.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
