"""Entry point: `python ingest.py [PATH...] [--dry-run] [--rebuild]` ingests into the askpanel store."""

import sys

from askpanel.cli import main

if __name__ == "__main__":
    main(["ingest", *sys.argv[1:]])
