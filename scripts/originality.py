"""List every run of eight or more words a corpus document shares with the source texts in a folder.

Source texts are plain-text files whose first line is the page's URL; they are never shipped.
Usage: python scripts/originality.py corpus --sources DIR [--words 8]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_WORD = re.compile(r"[a-z0-9£%]+(?:['’][a-z]+)?")
_MARKER = re.compile(r"\[\^[a-z0-9-]+\]")


def words(text: str) -> list[str]:
    return _WORD.findall(_MARKER.sub(" ", text.lower()).replace("’", "'"))


def body(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        text = text[end + 4 :] if end >= 0 else text
    return text


def shared_runs(doc: list[str], grams: dict[tuple[str, ...], str], n: int) -> list[tuple[str, str]]:
    """Maximal runs of at least n words of `doc` that occur in a source, with the source's URL."""
    runs: list[tuple[str, str]] = []
    i = 0
    while i <= len(doc) - n:
        url = grams.get(tuple(doc[i : i + n]))
        if url is None:
            i += 1
            continue
        j = i + n
        while j < len(doc) and tuple(doc[j - n + 1 : j + 1]) in grams:
            j += 1
        runs.append((" ".join(doc[i:j]), url))
        i = j
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--words", type=int, default=8)
    args = parser.parse_args()
    grams: dict[tuple[str, ...], str] = {}
    for source in sorted(args.sources.glob("**/*.txt")):
        lines = source.read_text(encoding="utf-8", errors="replace").split("\n", 1)
        text = words(lines[1] if len(lines) > 1 else "")
        for i in range(len(text) - args.words + 1):
            grams.setdefault(tuple(text[i : i + args.words]), lines[0].strip())
    total = 0
    docs = sorted(p for p in args.corpus.glob("*.md") if p.name != "README.md")
    for doc in docs:
        runs = shared_runs(words(body(doc)), grams, args.words)
        total += len(runs)
        for run, url in runs:
            print(f"{doc.name}: {len(run.split())} words shared with {url}: “{run}”")
    print(f"{len(docs)} documents, {len(grams):,} source {args.words}-grams, {total} shared runs")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
