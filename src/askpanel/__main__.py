"""`python -m askpanel` runs the command line."""

from .cli import main

main()
