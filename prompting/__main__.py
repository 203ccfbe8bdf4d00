"""``python -m prompting``: the headless CLI."""

from prompting.cli.main import main
from prompting.cli.process_exit import exit_process

if __name__ == "__main__":
    exit_process(main())
