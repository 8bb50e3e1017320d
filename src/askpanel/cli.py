"""Command line: `askpanel ingest`, `askpanel ask`, `askpanel eval`, `askpanel serve`, `askpanel mcp`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


@click.group()
@click.option(
    "--home", type=click.Path(path_type=Path), default=None, help="Data home (default $ASKPANEL_HOME or ./.askpanel)."
)
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """askpanel: ask the Service Transformation Challenge Panel report and its case studies."""
    ctx.obj = {"home": home}


def _assistant(ctx: click.Context):  # type: ignore[no-untyped-def]
    from .assistant import Assistant

    return Assistant(home=ctx.obj["home"])


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--rebuild", is_flag=True, help="Drop the store and ingest from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool, rebuild: bool, as_json: bool) -> None:
    """Ingest files or folders (default: the corpus folder). Unchanged files are skipped."""
    assistant = _assistant(ctx)
    if hasattr(os, "nice"):  # embedding takes every core it can: people asking questions meanwhile come first
        os.nice(assistant.settings.ingest_nice)
    report = assistant.ingest(list(paths) or None, dry_run=dry_run, rebuild=rebuild)
    if not dry_run and (report.added or report.updated or report.removed):
        assistant.prepare_index()  # the first start after this ingest then loads the index, not builds it
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON (the REST schema).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="doc_type, place, themes, year, region.")
@click.option("--place-context", default="", help='Your place, e.g. "a rural district council".')
@click.option(
    "--history",
    "history",
    multiple=True,
    metavar="QUESTION",
    help="An earlier question in this conversation, oldest first (repeat for more), so a follow-up can be asked.",
)
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    as_json: bool,
    filters: tuple[str, ...],
    place_context: str,
    history: tuple[str, ...],
) -> None:
    """Ask a question; prints the answer with its sources."""
    parsed: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--filter")
        parsed.setdefault(key.strip(), []).append(value.strip())
    from .retrieval import FilterError

    try:
        answer = _assistant(ctx).ask(question, filters=parsed, history=list(history), place_context=place_context)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from exc
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        from .markdown import render_text

        click.echo(render_text(answer))


@main.command(name="eval")
@click.option("--questions", type=click.Path(path_type=Path), default=Path("tests/eval/questions.yaml"))
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-baseline", is_flag=True, help="Skip the plain llama-index baseline.")
@click.option("--check", is_flag=True, help="Exit 1 when a score misses its gate.")
@click.pass_context
def evaluate(ctx: click.Context, questions: Path, as_json: bool, no_baseline: bool, check: bool) -> None:
    """Score retrieval, answers, citations and refusals on the golden questions."""
    from .evaluation import run_eval

    result = run_eval(_assistant(ctx), questions, baseline=not no_baseline)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.table())
    if check and result.failures():
        click.echo("gate failures: " + "; ".join(result.failures()), err=True)
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--no-ingest", is_flag=True, help="Do not ingest the corpus before serving.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, no_ingest: bool) -> None:
    """Serve the web chat, the REST and OpenAI-compatible APIs, and MCP over HTTP."""
    from .web import serve as run_server

    assistant = _assistant(ctx)
    if not no_ingest:
        report = assistant.ingest()
        click.echo(report.summary(), err=True)
    run_server(assistant, host=host, port=port)


@main.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve MCP over stdio (for Claude Desktop and other MCP clients), answering from the ingested store."""
    from .mcp_server import serve_stdio

    serve_stdio(_assistant(ctx))
