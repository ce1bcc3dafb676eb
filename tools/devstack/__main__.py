"""`python -m resonanz.devstack`: what `make run` starts."""

from .run import main

main()
