"""Entry point: `python app.py [--host H] [--port N]` ingests the corpus if needed and serves the web chat."""

import sys

from askpanel.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
