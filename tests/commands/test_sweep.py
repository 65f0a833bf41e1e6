"""The sweep summary: a table of each run's final metrics, written into the multirun folder."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from vidgpt.cli.sweep import SweepSummary, objective, write_summary

# Lightning's CSVLogger layout: one column per metric, blank where a row did not log it.
METRICS = """epoch,lr-AdamW,step,train/loss,train/psnr,val/psnr
,0.001,0,,,
0,,0,1.5,6.0,
0,,9,1.25,{train_psnr},
0,,9,,,{val_psnr}
"""


def _job(sweep: Path, name: str, overrides: list[str], metrics: str | None) -> None:
    (sweep / name / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), sweep / name / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (sweep / name / "logs").mkdir()
        (sweep / name / "logs" / "metrics.csv").write_text(metrics)


def _config(sweep: Path, mode: RunMode) -> OmegaConf:
    return OmegaConf.create({"hydra": {"mode": mode, "sweep": {"dir": str(sweep)}}})


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep = tmp_path / "multirun"
    for job, lr in ((0, "0.001"), (1, "0.003")):
        _job(sweep, str(job), [f"recipe.lr={lr}", "trainer.max_steps=10"],
             METRICS.format(train_psnr=7 + job, val_psnr=6.5 + job))
    _job(sweep, "10", ["recipe.lr=0.01", "trainer.max_steps=10"], None)  # crashed before logging anything
    (sweep / "multirun.yaml").write_text("{}\n")  # Hydra's own file in the sweep folder, not a run
    return sweep


def test_summary_lists_each_runs_last_values_under_the_swept_keys(sweep, capsys):
    SweepSummary().on_multirun_end(_config(sweep, RunMode.MULTIRUN))
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # job order by number (10 after 1); the shared override is no column; bookkeeping columns dropped
    assert [r["run"] for r in rows] == ["0", "1", "10"]
    assert list(rows[0]) == ["run", "recipe.lr", "step", "val/psnr", "train/loss", "train/psnr"]
    assert [r["recipe.lr"] for r in rows] == ["0.001", "0.003", "0.01"]
    # the last value each metric was logged with, though later rows leave it blank
    last = [(r["step"], r["train/loss"], r["val/psnr"]) for r in rows[:2]]
    assert last == [("9", "1.25", "6.5"), ("9", "1.25", "7.5")]
    assert float(rows[1]["train/psnr"]) == 8.0
    assert (rows[2]["step"], rows[2]["val/psnr"]) == ("", "")

    md = (sweep / "summary.md").read_text()
    assert "Shared overrides: `trainer.max_steps=10`" in md
    assert "| run | recipe.lr | step | val/psnr | train/loss |" in md  # the brief table: train/psnr only in the CSV
    assert "| 1 | 0.003 | 9 | 7.5 | 1.25 |" in md
    out = capsys.readouterr().out
    assert "| 1 | 0.003 | 9 | 7.5 | 1.25 |" in out and str(sweep / "summary.md") in out


def test_table_is_rewritten_after_each_job_of_a_sweep_only(sweep, tmp_path):
    SweepSummary().on_job_end(_config(sweep, RunMode.RUN), job_return=None)
    assert not (sweep / "summary.md").exists(), "a single run is no sweep"
    SweepSummary().on_job_end(_config(sweep, RunMode.MULTIRUN), job_return=None)
    assert "| 0 | 0.001 |" in (sweep / "summary.md").read_text()
    assert write_summary(tmp_path / "empty") is None


def test_objective_is_a_runs_final_value_or_a_clear_error(sweep):
    assert objective(sweep / "1", "val/psnr") == 7.5
    logged = r"\(logged: step, train/loss, train/psnr, val/psnr\)"
    with pytest.raises(ValueError, match=r"objective=val/loss: never logged .*" + logged):
        objective(sweep / "0", "val/loss")
    with pytest.raises(ValueError, match="logged: nothing"):
        objective(sweep / "10", "val/psnr")


def _multirun(sweep: Path, cwd: Path, *args: str, status: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "vidgpt.cli.train_tokenizer", "-m", "experiment=tokenizer_sweep",
         "tokenizer.channels=[8,16]", "tokenizer.pixel_channels=[8]", "tokenizer.blocks=1", "data.train.length=8", "data.val.length=2",
         "trainer.max_steps=2", "trainer.val_check_interval=2", f"hydra.sweep.dir={sweep}", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == status, f"multirun exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_a_real_multirun_ends_with_the_summary(tmp_path):
    """Two tiny tokenizer jobs through the command (about 15 s): the experiment's grid minus a key fixed on
    the command line, the summary written by the callback the config registers."""
    sweep = tmp_path / "sweep"
    proc = _multirun(sweep, tmp_path, "tokenizer.codebook_size=64")
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["recipe.lr"] for r in rows] == ["0.001", "0.003"]  # the grid's other axis
    assert all(float(r["val/psnr"]) > 0 for r in rows)
    assert "val/psnr" in proc.stdout and f"summary: {sweep / 'summary.md'}" in proc.stdout


def test_a_bad_point_of_a_sweep_fails_alone_and_the_sweep_says_so(tmp_path):
    """The job after the failed one still runs; the table shows why the failed one stopped; exit status 2."""
    sweep = tmp_path / "sweep"
    proc = _multirun(sweep, tmp_path, "hydra/sweeper=basic", "tokenizer.codebook_size=1,64", status=2)
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["tokenizer.codebook_size"] for r in rows] == ["1", "64"]
    assert "codebook_size" in rows[0]["error"] and rows[0]["val/psnr"] == ""
    assert rows[1]["error"] == "" and float(rows[1]["val/psnr"]) > 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "error: 1 sweep job(s) failed: job 0 (why: error.txt in each job's folder)"
    assert "Traceback" not in proc.stderr and "error: job 0 (" in proc.stderr


@pytest.mark.slow
def test_optuna_searches_on_the_runs_objective(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the [optuna] extra is not installed")
    sweep = tmp_path / "sweep"
    _multirun(sweep, tmp_path, "hydra/sweeper=tokenizer_optuna", "hydra.sweeper.n_trials=2", "objective=val/psnr")
    with open(sweep / "summary.csv", newline="") as f:
        psnr = [float(r["val/psnr"]) for r in csv.DictReader(f)]
    best = OmegaConf.load(sweep / "optimization_results.yaml").best_value
    assert len(psnr) == 2 and best == pytest.approx(max(psnr))  # Optuna saw what each run returned


def test_training_commands_register_the_summary():
    from hydra import compose, initialize_config_module
    from hydra.utils import get_class

    with initialize_config_module("vidgpt.conf", version_base=None):
        for command in ("train_tokenizer", "train_gpt"):
            callbacks = compose(command, return_hydra_config=True).hydra.callbacks
            assert SweepSummary in [get_class(c._target_) for c in callbacks.values()], command
