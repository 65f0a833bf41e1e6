"""vidgpt/cli/learning_curve.py: every snapshot of a run scored per split, written as a table, JSON and PNG."""

from __future__ import annotations

import json
import shutil

import pytest

from vidgpt.cli import learning_curve


def test_learning_curve_scores_every_snapshot(tmp_path, tiny_model_dir, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir / "tokenizer", run / "tokenizer")
    for step, minutes in ((250, 3.5), (500, 7.0)):
        snap = run / "snapshots" / f"step{step:08d}"
        shutil.copytree(tiny_model_dir / "gpt", snap)
        (snap / "snapshot.json").write_text(json.dumps({"step": step, "train_minutes": minutes}))
    assert learning_curve.main(["--run", str(run), "--clips", "2", "--splits", "test-iid", "--out", str(tmp_path / "lc")]) == 0
    rows = json.loads((tmp_path / "lc" / "learning_curve.json").read_text())
    assert [(r["step"], r["minutes"]) for r in rows] == [(250, 3.5), (500, 7.0)]
    assert all(0.0 <= r["test-iid"] <= 1.0 for r in rows)
    assert (tmp_path / "lc" / "learning_curve.png").stat().st_size > 1000
    assert "test-iid" in (tmp_path / "lc" / "learning_curve.md").read_text()


def test_learning_curve_without_snapshots_is_a_clear_error(tmp_path, tiny_model_dir, capsys):
    shutil.copytree(tiny_model_dir, tmp_path / "run")
    with pytest.raises(SystemExit):
        learning_curve.main(["--run", str(tmp_path / "run")])
    assert "holds no snapshots (train with snapshots=true)" in capsys.readouterr().err
