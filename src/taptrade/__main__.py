"""`python -m taptrade` is the `taptrade` command."""

from taptrade.cli import main

main()
