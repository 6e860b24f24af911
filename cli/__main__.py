"""`python -m cli`: the same as the `cashless` console script."""

from cli.main import main

main()
