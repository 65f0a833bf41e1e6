"""Write an evaluation result as JSON, a Markdown report and PNG plots.

Input is the dict of ``evaluate_videos`` / ``evaluate_folder``, optionally carrying
``"frechet"`` (``frechet_report``'s dict), ``"speed"`` (any {name: number}, e.g. the
generation's videos/s) and ``"sampling"`` (the sampling settings; ``"decoding"`` in reports written before
the rename, read by `sampling_of`) that the caller added. Plots use
matplotlib's ``Figure`` directly (the Agg canvas, no pyplot state), so writing reports works headless
and from threads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

from matplotlib.figure import Figure

from vidtok.shapes.clean_frames import FAIL_REASONS
from vidtok.shapes.rollout import FRAME_CHECKS
from vidtok.shapes.reader import FACTORS
from vidtok.shapes.temporal import TEMPORAL_METRICS

ACCURACY_KEYS = (*FACTORS, "all")


def to_jsonable(value):
    """``value`` with NaN/inf floats as None and numpy scalars/arrays and Paths as plain Python."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(result: Mapping, path: str | Path) -> Path:
    """Write ``result`` as indented JSON (NaN -> null); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(to_jsonable(result), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return p


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _groups(result: Mapping) -> list[tuple[str, Mapping]]:
    return [*result.get("splits", {}).items(), ("overall", result["overall"])]


def _clean_pct(clean: Mapping | None) -> str:
    """"61.2% ± 1.4" (share of clean videos with its standard error)."""
    if not clean or clean.get("clean_videos") is None:
        return "–"
    return f"{100 * clean['clean_videos']:.1f}% ± {100 * clean['clean_videos_se']:.1f}"


def clean_table(result: Mapping) -> str:
    """Markdown, the headline: per split (and overall) the share of videos clean in every frame (± one
    standard error), the share of clean frames (per-frame all-attributes), the video-level all-attributes
    accuracy, and the failed frames by reason."""
    rows = []
    for name, g in _groups(result):
        c = g.get("clean") or {}
        rows.append([name, str(g["videos"]), _clean_pct(c), _pct(c.get("clean_frames")), _pct(g["accuracy"]["all"]),
                     *(str(c.get("failed_by_reason", {}).get(r, "–")) for r in FAIL_REASONS)])
    return _table(["split", "videos", "clean videos", "clean frames", "video-level all", *FAIL_REASONS], rows)


def accuracy_table(result: Mapping) -> str:
    """Markdown: one row per split (and overall), per-attribute and all-attribute accuracy."""
    rows = [[name, str(g["videos"]), *(_pct(g["accuracy"][k]) for k in ACCURACY_KEYS)] for name, g in _groups(result)]
    return _table(["split", "videos", *ACCURACY_KEYS], rows)


def temporal_table(result: Mapping) -> str:
    """Markdown: one row per split (and overall), the mean of every temporal metric."""
    rows = [[name, *(_num(g["temporal"][m]) for m in TEMPORAL_METRICS)] for name, g in _groups(result)]
    return _table(["split", *TEMPORAL_METRICS], rows)


def frame_quality_table(result: Mapping, points: int = 5) -> str:
    """Markdown: overall per-frame check rates at a few frame indices from first to last."""
    curve = result["overall"]["per_frame"]
    n = len(curve["videos"])
    if n == 0:
        return "(no judged videos)"
    idx = sorted({round(i * (n - 1) / max(points - 1, 1)) for i in range(points)})
    rows = [[str(t), str(curve["videos"][t]), *(_pct(curve[c][t]) for c in FRAME_CHECKS)] for t in idx]
    return _table(["frame", "videos", *FRAME_CHECKS], rows)


def frechet_table(frechet: Mapping) -> str:
    """Markdown: Fréchet distance per feature set next to the real-vs-real floor."""
    rows = [
        [name, _num(v["distance"]), _num(v["floor"]), _num(v["ratio"])]
        for name, v in frechet.items()
        if isinstance(v, Mapping)
    ]
    return _table(["features", "distance", "real-vs-real floor", "ratio"], rows)


def comparison_table(results: Mapping[str, Mapping]) -> str:
    """Markdown: results side by side (e.g. raster vs diagonal sampling): all-attribute accuracy per
    split, then every ``speed`` entry any result carries."""
    labels = list(results)
    splits: list[str] = []
    for r in results.values():
        splits += [s for s in r.get("splits", {}) if s not in splits]
    rows = []
    for s in [*splits, "overall"]:
        cells = []
        for label in labels:
            g = results[label]["overall"] if s == "overall" else results[label].get("splits", {}).get(s)
            cells.append(_clean_pct(g.get("clean")) if g else "–")
        rows.append([f"clean videos {s}", *cells])
    for s in [*splits, "overall"]:
        cells = []
        for label in labels:
            g = results[label]["overall"] if s == "overall" else results[label].get("splits", {}).get(s)
            cells.append(_pct((g.get("clean") or {}).get("clean_frames")) if g else "–")
        rows.append([f"clean frames {s}", *cells])
    for s in [*splits, "overall"]:
        cells = []
        for label in labels:
            g = results[label]["overall"] if s == "overall" else results[label].get("splits", {}).get(s)
            cells.append(_pct(g["accuracy"]["all"]) if g else "–")
        rows.append([f"accuracy (all) {s}", *cells])
    speed_keys: list[str] = []
    for r in results.values():
        speed_keys += [k for k in r.get("speed", {}) if k not in speed_keys]
    for k in speed_keys:
        rows.append([f"speed: {k}", *(_num(results[label].get("speed", {}).get(k)) for label in labels)])
    return _table(["", *labels], rows)


def coverage_line(result: Mapping) -> str:
    """One sentence: how many videos were judged, and why the others were not."""
    skipped = {k: v for k, v in result.get("skipped", {}).items() if v}
    parts = [f"{result['judged']} of {result['items']} videos judged from pixels"]
    parts.append(f"skipped: {', '.join(f'{k} {v}' for k, v in skipped.items())}" if skipped else "none skipped")
    if result.get("other_size", {}).get("count"):
        parts.append(f"{result['other_size']['count']} of another size (judged at their own size)")
    if result.get("split_inferred"):
        parts.append(f"split inferred from the caption for {result['split_inferred']}")
    if result.get("split_mismatch"):
        parts.append(f"{result['split_mismatch']} captions outside their split's combinations")
    return "; ".join(parts) + "."


def sampling_of(result: Mapping) -> Mapping:
    """The sampling settings a generator-made result carries ({} for none); a report written before the
    rename keeps them under "decoding"."""
    return result.get("sampling") or result.get("decoding") or {}


def sampling_line(sampling: Mapping) -> str:
    """One sentence: the sampling settings a generator-made result was drawn with (unset ones left out)."""
    return "Sampling: " + ", ".join(f"{k} {v}" for k, v in sampling.items() if v is not None) + "."


def markdown_report(
    result: Mapping,
    title: str = "Evaluation",
    plots: Mapping[str, str] | None = None,
    compare: Mapping[str, Mapping] | None = None,
) -> str:
    """The whole Markdown report; ``plots`` maps captions to image paths relative to the report."""
    parts = [
        f"# {title}",
        coverage_line(result),
        *([sampling_line(sampling_of(result))] if sampling_of(result) else []),
        "## Clean videos (every frame read on its own, shapes.md \"Frame by frame\")",
        clean_table(result),
        "## Prompt following, video level (attributes read from medians over frames)",
        accuracy_table(result),
        "## Temporal quality (means; presence 1 and the rest 0 on real clips)",
        temporal_table(result),
        "## Quality against frame index",
        frame_quality_table(result),
    ]
    examples = result.get("skipped_examples") or {}
    if any(examples.values()):
        lines = [f"- {reason}: " + "; ".join(ex) for reason, ex in examples.items() if ex]
        parts += ["## Skipped (first examples)", "\n".join(lines)]
    if result.get("frechet"):
        parts += ["## Distribution distance (Fréchet)", frechet_table(result["frechet"])]
    if result.get("tokenizer"):
        rows = result["tokenizer"]
        cols = ["split", "clips", "psnr", "ssim", "clean", "read_back", "codebook_usage", "perplexity"]
        parts += ["## Tokenizer reconstructions (held-out clips)",
                  _table(cols, [[_num(r[c]) if not isinstance(r[c], str) else r[c] for c in cols] for r in rows])]
    if result.get("speed"):
        parts += ["## Speed", _table(["", "value"], [[k, _num(v)] for k, v in result["speed"].items()])]
    if compare:
        parts += ["## Side by side", comparison_table(compare)]
    for caption, path in (plots or {}).items():
        parts.append(f"![{caption}]({path})")
    return "\n\n".join(parts) + "\n"


def _save(fig: Figure, path: str | Path) -> Path:
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=100)
    return p


def plot_accuracy(result: Mapping, path: str | Path) -> Path:
    """Grouped bars: per-attribute and all-attribute accuracy, one group per split."""
    groups = _groups(result)
    fig = Figure(figsize=(max(6, 1.6 * len(groups) + 2), 4))
    ax = fig.subplots()
    width = 0.8 / len(ACCURACY_KEYS)
    for k, key in enumerate(ACCURACY_KEYS):
        values = [(g["accuracy"][key] or 0.0) for _, g in groups]
        ax.bar([i + (k - (len(ACCURACY_KEYS) - 1) / 2) * width for i in range(len(groups))], values, width, label=key)
    ax.set_xticks(range(len(groups)), [name for name, _ in groups], rotation=15, fontsize=8)
    ax.set_ylim(0, 1.15)  # headroom for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("accuracy")
    ax.legend(ncol=len(ACCURACY_KEYS), fontsize=7, loc="upper center")
    return _save(fig, path)


def plot_frame_quality(result: Mapping, path: str | Path, compare: Mapping[str, Mapping] | None = None) -> Path:
    """Per-frame check rates against frame index (overall); with ``compare``, the "all" curve of each."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    curve = result["overall"]["per_frame"]
    for check in FRAME_CHECKS:
        ys = [math.nan if y is None else y for y in curve[check]]
        ax.plot(range(len(ys)), ys, label=check, linewidth=2 if check == "all" else 1)
    for label, other in (compare or {}).items():
        ys = [math.nan if y is None else y for y in other["overall"]["per_frame"]["all"]]
        ax.plot(range(len(ys)), ys, linestyle="--", label=f"all ({label})")
    ax.set_xlabel("frame index")
    ax.set_ylabel("fraction of videos correct")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_failures(result: Mapping, path: str | Path) -> Path:
    """Share of frames failing each frame-by-frame check, and of unclean frames, against frame index (overall)."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    by_frame = (result["overall"].get("clean") or {}).get("by_frame") or {}
    frames = by_frame.get("frames", [])
    share = lambda counts: [c / n if n else math.nan for c, n in zip(counts, frames)]
    if frames:
        ax.plot(range(len(frames)), share([n - c for n, c in zip(frames, by_frame["clean"])]), color="black",
                linewidth=2, label="not clean")
        for reason in FAIL_REASONS:
            ax.plot(range(len(frames)), share(by_frame[reason]), label=reason)
    ax.set_xlabel("frame index")
    ax.set_ylabel("fraction of videos failing")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return _save(fig, path)


def write_report(
    result: Mapping,
    out_dir: str | Path,
    title: str = "Evaluation",
    compare: Mapping[str, Mapping] | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, accuracy.png, failures.png and frame_quality.png into ``out_dir``.

    ``compare``: optional {label: result} (e.g. {"raster": r1, "diagonal": r2}) shown side by side
    (accuracy and any ``speed`` entries) and as dashed curves on the frame-quality plot.
    Returns {"json", "markdown", "accuracy_plot", "failures_plot", "frame_quality_plot"} -> paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json({**result, **({"compare": compare} if compare else {})}, out / "report.json"),
        "accuracy_plot": plot_accuracy(result, out / "accuracy.png"),
        "failures_plot": plot_failures(result, out / "failures.png"),
        "frame_quality_plot": plot_frame_quality(result, out / "frame_quality.png", compare),
    }
    plots = {"frames failing, by reason and frame index": "failures.png", "accuracy per split": "accuracy.png",
             "quality against frame index": "frame_quality.png"}
    md = markdown_report(result, title, plots, compare)
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text(md, encoding="utf-8")
    return paths
