"""`python -m sendhouse` runs the command line."""

from sendhouse.cli import main

main()
