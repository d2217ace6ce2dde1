"""`python -m cluster.apiserver`: run the embedded API server in the foreground."""

from .main import main

main()
