"""The load script's short form: real app processes under concurrent REST and Gradio traffic, ingest under load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_short_load_has_no_errors_and_new_documents_become_answerable(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--short", "--scenario", "both", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,  # the script stops its own processes well before: startup, load and ingest are each bounded
    )
    assert out.exists(), f"no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = {row["scenario"]: row for row in json.loads(out.read_text())["results"]}
    assert set(rows) == {"embedded", "server"}
    for name, row in rows.items():
        assert "error" not in row, f"{name} did not run: {row.get('error')}"
        assert row["errors"] == 0, f"{name}: {row['error_samples']}"
        assert row["wrong_answers"] == 0, f"{name}: {row['wrong_samples']}"
        assert not row["stopped_by_time"], f"{name}: stopped by the time limit after {row['questions']} questions"
        assert row["questions"] >= row["questions_planned"] == 80
        assert row["channels"]["rest"]["requests"] > 0 and row["channels"]["gradio"]["requests"] > 0
    server = rows["server"]
    assert server["apps"] == 2 and set(server["per_app"]) == {"app 0", "app 1"}
    ingest = server["ingest"]
    assert ingest["returncode"] == 0, ingest["output_tail"]
    assert ingest["answerable_before_ingest"] == [False, False], "the probe question was answerable before the ingest"
    assert ingest["load_running_when_ingest_finished"], "the ingest did not run under load"
    assert ingest["answerable_apps"] == 2, "a running app never answered from the new documents"
    assert server["new_docs_answerable_s"] is not None
