"""`python -m ingest SOURCE DESTINATION`: the ingest function's command line (see ingest.handler)."""

from ingest.handler import main

raise SystemExit(main())
