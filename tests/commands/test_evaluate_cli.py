"""The evaluate command on a tiny random model: a complete report, raster vs diagonal side by side."""

import json

from hydra import compose, initialize_config_module

from vidgpt.cli.evaluate import evaluate
from vidgpt.evaluate import sampling_label
from vidgpt.model.generation import GenerationConfig


def test_evaluate_model_writes_report_and_compares_schedules(tiny_model_dir, tmp_path):
    with initialize_config_module("vidgpt.conf", version_base=None):
        cfg = compose("evaluate", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path}", "per_split=3",
                                             "schedules=[raster,diagonal]", "batch_size=3",
                                             "tokenizer_clips=2"])
    results = evaluate(cfg)
    # labelled with the model's window and frame window (the config leaves them to the model: `model`)
    own = GenerationConfig()  # the tiny model's folder has no generation.json: the defaults
    diagonal = sampling_label(dict(schedule="diagonal", window=own.window, frame_window=own.frame_window))
    assert diagonal == "diagonal w=1 fw=4"  # the shipped defaults, labelled as tables name them
    assert set(results) == {"raster", diagonal}
    for result in results.values():
        assert result["judged"] + sum(result["skipped"].values()) == 9  # nothing silently dropped
        assert result["speed"]["videos_per_s"] > 0
        assert set(result["frechet"]) >= {"random_cnn", "hand"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["compare"]) == set(results)
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    markdown = (tmp_path / "report.md").read_text()
    assert diagonal in markdown and "## Tokenizer reconstructions" in markdown
    # the report says how its videos were sampled: a figure without its temperature is not reproducible
    assert report["compare"][diagonal]["sampling"] == {
        "schedule": "diagonal", "window": own.window, "frame_window": own.frame_window,
        "first_window": own.first_window, "cfg_scale": own.cfg_scale,
        "later_cfg_scale": own.later_cfg_scale, "temperature": own.temperature,
        "top_k": own.top_k, "top_p": None, "frames": None, "seed": cfg.seed,
        "dtype": "float32"}
    assert f"temperature {own.temperature}" in markdown
    tokenizer_rows = report["tokenizer"]
    assert [r["split"] for r in tokenizer_rows][-1] == "all splits" and all(r["clips"] > 0 for r in tokenizer_rows)


def test_evaluate_folder_of_generated_samples(tiny_model_dir, tmp_path):
    from vidgpt.cli.generate import generate

    with initialize_config_module("vidgpt.conf", version_base=None):
        generate(compose("generate", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path / 's'}",
                                                "prompt='a small red square moves up quickly'", "formats=[mp4]"]))
        cfg = compose("evaluate", overrides=[f"folder={tmp_path / 's'}", f"out_dir={tmp_path / 'r'}"])
    result = evaluate(cfg)["videos"]
    assert result["items"] == 1
    assert (tmp_path / "r" / "report.md").is_file()
