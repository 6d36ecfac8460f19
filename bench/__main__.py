"""`python -m bench` runs the benchmark command line."""

from .cli import main

raise SystemExit(main())
