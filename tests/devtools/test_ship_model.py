"""tools/ship_model.py: a model folder becomes the shipped model, checked, trimmed and with a model card."""

from __future__ import annotations

import shutil

import pytest

from tools import ship_model
from vidgpt.generator import VideoGenerator


def test_ship_copies_what_generation_needs_and_writes_a_card(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x" * 1000)  # training leftovers stay behind
    report = {"splits": {"test-iid": {"videos": 4, "accuracy": {"all": 0.25, "shape": 0.5, "colour": 1.0,
                                                                "size": 0.75, "direction": 0.5, "speed": None}}},
              "sampling": {"schedule": "diagonal", "window": 1, "frame_window": 4, "cfg_scale": 2.0,
                           "later_cfg_scale": 1.5, "temperature": 0.25, "top_k": 100, "top_p": None}}  # the model's own (its defaults)
    out = ship_model.ship(run, tmp_path / "shipped", report, note="A test model.")
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "gpt", "tokenizer"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "| evaluated | test-iid | 4 | 25.0% | 50.0% | 100.0% | 75.0% | 50.0% | n/a |" in card
    assert "cfg_scale 2.0, later_cfg_scale 1.5, temperature 0.25, top_k 100 for every setting." in card
    assert "| sampling | split |" in card
    assert "A test model." in card and "experiment=gpt_shapes" in card
    VideoGenerator.from_pretrained(out)  # loads as a matched pair
    # shipping again replaces the earlier shipped model (its gpt/ folder marks it as one)
    assert ship_model.ship(run, out, note="The next model.") == out
    assert "The next model." in (out / "MODEL_CARD.md").read_text()


def test_ship_refuses_a_folder_that_is_no_model_and_one_over_budget(tmp_path, tiny_model_dir, monkeypatch):
    with pytest.raises(FileNotFoundError, match="has no gpt/ folder"):
        ship_model.ship(tmp_path, tmp_path / "shipped")
    monkeypatch.setattr(ship_model, "MAX_MB", 0.001)
    with pytest.raises(ValueError, match="over the 0 MB budget"):
        ship_model.ship(tiny_model_dir, tmp_path / "shipped")
    assert not (tmp_path / "shipped").exists()  # nothing half-shipped


def test_ship_refuses_figures_of_other_settings_than_the_model_ships_with(tmp_path, tiny_model_dir):
    own = {"schedule": "diagonal", "window": 1, "frame_window": 4, "cfg_scale": 2.0, "later_cfg_scale": 1.5,
           "temperature": 0.25, "top_k": 100, "top_p": None}
    group = {"splits": {"test-iid": {"videos": 1, "accuracy": {"all": 1.0}}}}
    with pytest.raises(ValueError, match=r"sampled with \{'cfg_scale': 3.0\}, the model's settings are \{'cfg_scale': 2.0\}"):
        # a report written before the rename keeps the settings under "decoding": still read
        ship_model.ship(tiny_model_dir, tmp_path / "a", {**group, "decoding": {**own, "cfg_scale": 3.0}})
    with pytest.raises(ValueError, match="no result sampled with the model's own schedule, window, frame_window, first_window"):
        ship_model.ship(tiny_model_dir, tmp_path / "b", {"compare": {"raster": {**group, "sampling": {
            **own, "schedule": "raster"}}}})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_ship_keeps_the_change_adapter_and_writes_the_prompt_change_table(tmp_path, adapter_model_dir):
    from tools import switch_table
    from vidgpt.model.change_adapter import ADAPTER_FILE

    run = adapter_model_dir
    assert switch_table.main(["--model", str(run), "--per-split", "1", "--at", "5", "--frames", "9",
                              "--out", str(tmp_path / "switch")]) == 0
    assert ship_model.main(["--run", str(run), "--out", str(tmp_path / "shipped"),
                            "--switch", str(tmp_path / "switch" / "table.json")]) == 0
    out = tmp_path / "shipped"
    assert (out / "gpt" / ADAPTER_FILE).is_file()
    assert VideoGenerator.from_pretrained(out).gpt.change_adapter is not None
    card = (out / "MODEL_CARD.md").read_text()
    assert "with the change adapter it samples with from a prompt change on" in card
    assert "## Prompt changes" in card and "| change, no adapter | 3 |" in card
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit) as e:
        ship_model.main(["--run", str(run), "--out", str(tmp_path / "shipped"), "--switch", str(tmp_path / "bad.json")])
    assert e.value.code == 2
