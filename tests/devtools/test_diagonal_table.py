"""tools/diagonal_table.py on the tiny random model: every setting gets a row, and the files are written."""

import json

import pytest

from tools import diagonal_table


@pytest.fixture(scope="module")
def tool():
    return diagonal_table


def test_table_covers_every_setting_on_both_grids(tool, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    assert tool.main(["--model", str(tiny_model_dir), "--clips", "2", "--repeats", "1", "--speed-grids", "2x4x4",
                      "--batch-size", "6", "--out", str(out)]) == 0
    table = json.loads((out / "table.json").read_text())
    labels = [tool.sampling_label(s) for s in tool.settings()]
    assert len(set(labels)) == len(labels) == 10  # raster, 3 windows x full overlap or whole frames, fw=2 and 4, keep-standins
    model = [r for r in table["rows"] if r["model"] == tiny_model_dir.name]
    random = [r for r in table["rows"] if r["model"] == "random demo"]
    assert [r["setting"] for r in model] == labels and [r["setting"] for r in random] == labels
    assert {r["grid"] for r in model} == {"3x4x4"} and {r["grid"] for r in random} == {"2x4x4"}
    for r in model:
        assert all(0.0 <= r[s] <= 1.0 for s in ("test-iid", "test-comp-shape-colour", "test-comp-colour-direction"))
        assert r["tokens_per_s"] > 0
    assert all(r["mean"] is None for r in random)  # random weights: speed only
    raster = next(r for r in model if r["setting"] == "raster")
    w1 = next(r for r in model if r["setting"] == "diagonal w=1")
    assert raster["speedup"] == 1.0 and raster["forward_steps"] == 3 * 4 * 4 + 1
    assert w1["forward_steps"] == (3 * 4 - 1) * 1 + 4 + 1  # (t*h - 1) * window + w, + the prefill
    fw2 = next(r for r in model if r["setting"] == "diagonal w=1 fw=2")
    assert fw2["forward_steps"] == 2 * (3 + 2) + 3 + 4 + 1  # (t-1) * ((h-1) * window + fw) + (h-1) * window + w, + 1
    markdown = (out / "table.md").read_text()
    assert all(label in markdown for label in labels) and "n/a" in markdown
    assert (out / "accuracy_vs_speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_grid_and_missing_model_are_named(tool, tiny_model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tool.main(["--model", str(tiny_model_dir), "--speed-grids", "5x16", "--out", str(tmp_path)])
    assert e.value.code == 2 and "grid '5x16' must be TxHxW" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--model", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert "model folder not found" in capsys.readouterr().err
