"""The generate command: files a person can open, a manifest, and clear errors for bad input."""

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from vidgpt.cli.generate import generate
from vidtok.io import read_video


def _cfg(**overrides):
    with initialize_config_module("vidgpt.conf", version_base=None):
        return compose("generate", overrides=[f"{k}={v}" for k, v in overrides.items()])


def test_generate_writes_playable_mp4_gif_png_and_manifest(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    cfg = _cfg(model=tiny_model_dir, out_dir=out, samples=2, schedule="raster", cfg_scale=2.0,
               prompt="'a small red circle moves up quickly'")
    records = generate(cfg)
    assert len(records) == 2 and [r["seed"] for r in records] == [0, 1]
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert lines == records
    for r in records:
        assert r["prompt"] == "a small red circle moves up quickly" and r["schedule"] == "raster"
        assert r["seconds"] > 0 and r["cfg_scale"] == 2.0 and r["dtype"] == "float32"
        mp4, gif, png = (out / f for f in r["files"])
        assert mp4.suffix == ".mp4" and gif.suffix == ".gif" and png.suffix == ".png"
        video = read_video(mp4)
        assert video.shape == (9, 32, 32, 3)
        assert read_video(gif).shape == (9, 32, 32, 3)
        assert png.stat().st_size > 0


def test_generate_same_seed_same_video(tiny_model_dir, tmp_path):
    a = generate(_cfg(model=tiny_model_dir, out_dir=tmp_path / "a", formats="[gif]"))
    b = generate(_cfg(model=tiny_model_dir, out_dir=tmp_path / "b", formats="[gif]"))
    va, vb = read_video(tmp_path / "a" / a[0]["file"]), read_video(tmp_path / "b" / b[0]["file"])
    assert np.array_equal(va, vb)


def test_prompts_file_bad_lines_are_named(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a large blue square moves left slowly\n\nanother\n")
    with pytest.raises(ValueError, match=r"prompts.txt:2: blank line"):
        generate(_cfg(model=tiny_model_dir, prompts_file=prompts, out_dir=tmp_path / "o"))
    prompts.write_text("ok prompt\n" + "x" * 400 + "\n")
    with pytest.raises(ValueError, match=r"prompts.txt:2: prompt of 400 characters \(limit 300\)"):
        generate(_cfg(model=tiny_model_dir, prompts_file=prompts, out_dir=tmp_path / "o"))
    assert not (tmp_path / "o" / "samples.jsonl").exists()


def test_missing_model_and_unwritable_output(tiny_model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="model=.*nowhere: no such folder"):
        generate(_cfg(model=tmp_path / "nowhere", out_dir=tmp_path / "o"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="output folder .* is not writable"):
        generate(_cfg(model=tiny_model_dir, out_dir=blocker / "sub"))


def test_without_model_the_shipped_model_generates_a_prompt_following_video(tmp_path):
    """`make demo` on a fresh clone: the shipped model loads from the package, fits its budget and follows a prompt."""
    from vidgpt.cli.generate import SHIPPED_MODEL
    from vidtok.shapes.reader import read_video_attributes

    size = sum(f.stat().st_size for f in SHIPPED_MODEL.rglob("*") if f.is_file()) / 2**20
    assert size <= 40, f"the shipped model is {size:.1f} MB"
    records = generate(_cfg(out_dir=tmp_path, formats="[mp4]", prompt="'a large blue square moves left slowly'"))
    video = read_video(tmp_path / records[0]["file"])
    assert video.shape == (17, 64, 64, 3)
    reading = read_video_attributes(video)
    # colour and motion are what the shipped model gets right nearly always (MODEL_CARD.md)
    assert (reading.colour, reading.direction) == ("blue", "left")


def test_python_cli_and_evaluation_sample_with_the_model_generation_config(tiny_model_dir, tmp_path):
    """One generation config: `generate(prompt)` with no options, vidgpt-generate and vidgpt-evaluate all
    sample with the model folder's generation.json, so the same prompt and seed give the same video."""
    import shutil

    import torch

    from vidgpt.cli.options import sampling_settings
    from vidgpt.evaluate import evaluate_generator
    from vidgpt.generator import VideoGenerator
    from vidgpt.model.generation import GENERATION_FILE, GenerationConfig
    from vidgpt.samples import SampleOptions, generate_samples

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    own = GenerationConfig(schedule="diagonal", window=2, frame_window=None, cfg_scale=1.5, temperature=0.7,
                           top_k=20)
    own.save(model / "gpt")
    gen = VideoGenerator.from_pretrained(model)
    assert gen.generation == own and (model / "gpt" / GENERATION_FILE).is_file()
    prompt = "a small red circle moves up quickly"
    python = gen.generate(prompt, seed=3)
    explicit = gen.generate(prompt, seed=3, **own.to_dict())
    assert torch.equal(python.codes, explicit.codes)
    assert not torch.equal(python.codes, gen.generate(prompt, seed=3, **GenerationConfig().to_dict()).codes)

    cfg = _cfg(model=model, out_dir=tmp_path / "out", prompt=f"'{prompt}'", seed=3)
    [record] = generate_samples(gen, [prompt], tmp_path / "out", SampleOptions(**sampling_settings(cfg)),
                                seed=3, formats=["gif"], progress=False)
    assert {k: record[k] for k in own.to_dict()} == own.to_dict()  # the manifest records the numbers
    with initialize_config_module("vidgpt.conf", version_base=None):
        ev = compose("evaluate")
    [result] = evaluate_generator(gen, ["test-iid"], 1, [dict(sampling_settings(ev), frames=None)],
                                  progress=False).values()
    assert {k: result["sampling"][k] for k in own.to_dict()} == own.to_dict()

    gen.gpt.save_pretrained(tmp_path / "again")  # the settings travel with the GPT through an export
    assert GenerationConfig.load(tmp_path / "again") == own
    assert np.array_equal(python.videos[0], gen.generate(prompt, seed=3).videos[0])


def test_generation_config_file_is_checked(tmp_path):
    from vidgpt.model.generation import GenerationConfig

    (tmp_path / "generation.json").write_text('{"temprature": 0.5}')
    with pytest.raises(ValueError, match=r"generation.json: unknown key\(s\) \['temprature'\]"):
        GenerationConfig.load(tmp_path)
    (tmp_path / "generation.json").write_text('{"top_p": 0}')
    with pytest.raises(ValueError, match="top_p=0: must lie in"):
        GenerationConfig.load(tmp_path)
    assert GenerationConfig.load(tmp_path / "none", distilled=True).cfg_scale == 1.0


def test_prompt_changes_on_the_command_line_are_made_and_recorded(tiny_model_dir, tmp_path, monkeypatch):
    from vidgpt.generator import VideoGenerator

    calls = []
    real = VideoGenerator.generate
    monkeypatch.setattr(VideoGenerator, "generate", lambda self, *a, **kw: calls.append(kw) or real(self, *a, **kw))
    change = '[{frame: 5, prompt: "a small red circle moves up quickly"}]'
    records = generate(_cfg(model=tiny_model_dir, out_dir=tmp_path, formats="[gif]",
                            prompt="'a large blue square moves left slowly'", changes=change, seed=2))
    assert calls[0]["changes"] == {5: "a small red circle moves up quickly"}  # what the generator is asked
    assert records[0]["changes"] == [{"frame": 5, "prompt": "a small red circle moves up quickly"}]
    line = json.loads((tmp_path / "samples.jsonl").read_text().splitlines()[0])
    assert line["changes"] == records[0]["changes"]  # and what samples.jsonl records
    generate(_cfg(model=tiny_model_dir, out_dir=tmp_path / "plain", formats="[gif]", prompt="x", seed=2))
    assert calls[1]["changes"] is None
