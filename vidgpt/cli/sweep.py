"""A sweep's results as one table: `summary.md` + `summary.csv` in the multirun folder.

Registered in the training configs' `hydra.callbacks`, so every `-m` launch gets it. The table is
built by reading the run folders (`<sweep>/<job>/.hydra/overrides.yaml` and `logs/metrics.csv`), not
from the jobs' return values, so it works whichever launcher ran the jobs, and it is rewritten after
each job: a sweep whose last job crashes still leaves the table of the jobs before.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import ERROR_FILE

SUMMARY = "summary"
METRICS_CSV = Path("logs") / "metrics.csv"
OVERRIDES = Path(".hydra") / "overrides.yaml"
# Columns of Lightning's CSV log that are not results ("lr-AdamW" is the LR monitor's echo of recipe.lr).
_SKIP = ("epoch", "lr-")


class SweepSummary(Callback):
    """Hydra callback: write the sweep table after each job and print it when the sweep ends."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            write_summary(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        paths = write_summary(Path(config.hydra.sweep.dir))
        if paths:
            print(paths["markdown"].read_text())
            print(f"summary: {paths['markdown']} and {paths['csv'].name}")


def final_metrics(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of each metric column of a Lightning CSV log, plus the last `step`."""
    last: dict[str, float] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key and value and not key.startswith(_SKIP):
                    try:
                        last[key] = float(value)
                    except ValueError:  # a half-written last line of a run still going
                        pass
    if "step" in last:
        last["step"] = int(last["step"])
    return last


def objective(run: Path, metric: str) -> float:
    """The final value of `metric` in a run's log: what an optimising sweeper (Optuna) minimises or maximises."""
    logged = final_metrics(run / METRICS_CSV) if (run / METRICS_CSV).is_file() else {}
    if metric not in logged:
        names = ", ".join(sorted(logged)) or "nothing"
        raise ValueError(f"objective={metric}: never logged in {run / METRICS_CSV} (logged: {names})")
    return logged[metric]


def read_overrides(run: Path) -> dict[str, str]:
    """A run's command-line overrides as {key: value} (`~key` deletions keep an empty value)."""
    lines = OmegaConf.to_container(OmegaConf.load(run / OVERRIDES)) or []
    return dict(line.split("=", 1) if "=" in line else (line, "") for line in lines)


def collect_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """One record per job folder of the sweep, in job order: name, overrides, final metrics."""
    runs = [p for p in Path(sweep_dir).iterdir() if (p / OVERRIDES).is_file()]
    runs.sort(key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))
    return [
        {"run": p.name, "overrides": read_overrides(p),
         "metrics": final_metrics(p / METRICS_CSV) if (p / METRICS_CSV).is_file() else {},
         "error": (p / ERROR_FILE).read_text().strip() if (p / ERROR_FILE).is_file() else None}
        for p in runs
    ]


def summary_table(runs: list[dict[str, Any]], brief: bool = False) -> tuple[list[str], list[list[Any]], dict[str, str]]:
    """Columns, rows (override strings, metric floats, None where a run lacks a metric) and the
    overrides shared by every run.

    Only the overrides that differ between runs become columns (the sweep's axes); `step` comes next,
    then validation metrics before training ones. `brief`: of the training metrics only `train/loss`
    (the tokenizer logs a dozen; a table to read in a terminal keeps what compares runs).
    """
    keys = list(dict.fromkeys(k for r in runs for k in r["overrides"]))
    shared = {k: runs[0]["overrides"][k] for k in keys
              if all(k in r["overrides"] and r["overrides"][k] == runs[0]["overrides"][k] for r in runs)}
    axes = [k for k in keys if k not in shared]
    names = sorted({m for r in runs for m in r["metrics"]} - {"step"}, key=lambda m: (not m.startswith("val/"), m))
    if brief:
        names = [m for m in names if m.startswith("val/") or m == "train/loss"]
    errors = ["error"] if any(r.get("error") for r in runs) else []  # a job that stopped on a user error
    columns = ["run", *axes, "step", *names, *errors]
    rows = [
        [r["run"], *(r["overrides"].get(k, "") for k in axes), *(r["metrics"].get(m) for m in ("step", *names)),
         *([r.get("error")] if errors else [])]
        for r in runs
    ]
    return columns, rows, shared


def write_summary(sweep_dir: str | Path) -> dict[str, Path] | None:
    """Write `summary.md` (validation metrics and train/loss) and `summary.csv` (every metric) into
    `sweep_dir`; None when it holds no job folder yet."""
    sweep_dir = Path(sweep_dir)
    runs = collect_runs(sweep_dir) if sweep_dir.is_dir() else []
    if not runs:
        return None
    columns, rows, shared = summary_table(runs, brief=True)
    md = [f"# Sweep {sweep_dir}", ""]
    if shared:
        md += ["Shared overrides: " + " ".join(f"`{k}={v}`" if v else f"`{k}`" for k, v in shared.items()), ""]
    md += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    md += ["| " + " | ".join(map(_fmt, row)) + " |" for row in rows]
    paths = {"markdown": sweep_dir / f"{SUMMARY}.md", "csv": sweep_dir / f"{SUMMARY}.csv"}
    paths["markdown"].write_text("\n".join(md) + "\n")
    columns, rows, _ = summary_table(runs)
    with open(paths["csv"], "w", newline="") as f:
        csv.writer(f).writerows([columns, *rows])  # None -> empty cell, floats at full precision
    return paths


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, float):
        return str(value).replace("|", "\\|")  # an error message must not split its table cell
    if math.isfinite(value) and value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"
