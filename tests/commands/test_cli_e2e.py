"""Both stages chained through the real console commands, then resume and generate.

Runs the commands as subprocesses from another directory, as a user would: it also proves that an
installed command finds its configs wherever it is started.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
TINY = ["frames=9", "size=32", "data.batch_size=2", "data.num_workers=0", "data.train.length=8",
        "data.val.length=2", "trainer.val_check_interval=2", "trainer.log_every_n_steps=1",
        "trainer.enable_model_summary=false", "trainer.enable_progress_bar=false"]


def _run(module: str, *args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if ok:
        assert proc.returncode == 0, f"{module} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _step(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    _run("vidgpt.cli.train_tokenizer", *TINY, "tokenizer.channels=[8,16]", "tokenizer.pixel_channels=[8]", "tokenizer.blocks=1",
         "tokenizer.codebook_size=64", "trainer.max_steps=2", f"hydra.run.dir={work / 'tok'}", cwd=work)
    return work


def test_stage1_exports_tokenizer_and_checkpoint(stage1):
    assert (stage1 / "tok" / "tokenizer" / "config.json").is_file()
    assert _step(stage1 / "tok" / "checkpoints" / "last.ckpt") == 2
    assert (stage1 / "tok" / "logs" / "metrics.csv").is_file()


def test_stage1_decoder_fine_tune_from_a_tokenizer_folder(stage1):
    # init_from takes the architecture from the folder (the default preset would not fit these weights);
    # freeze_encoder trains the decoder alone, so the codes stay those of the starting tokenizer
    start_dir = stage1 / "tok" / "tokenizer"
    _run("vidgpt.cli.train_tokenizer", *TINY, f"init_from={start_dir}", "recipe.freeze_encoder=true",
         "recipe.lr=1e-2", "recipe.warmup_steps=1", "trainer.max_steps=2", f"hydra.run.dir={stage1 / 'dec'}", cwd=stage1)
    start, end = (load_file(d / "model.safetensors") for d in (start_dir, stage1 / "dec" / "tokenizer"))
    assert start.keys() == end.keys()
    assert all(torch.equal(start[k], end[k]) for k in start if not k.startswith("decoder."))
    assert not all(torch.equal(start[k], end[k]) for k in start if k.startswith("decoder."))
    proc = _run("vidgpt.cli.train_tokenizer", "init_from=/no/such/tok", cwd=stage1, ok=False)
    assert proc.stderr.strip().splitlines()[-1] == "error: init_from=/no/such/tok: not a tokenizer folder (no config.json)"
    proc = _run("vidgpt.cli.train_tokenizer", "recipe.freeze_encoder=true", cwd=stage1, ok=False)
    assert proc.stderr.strip().splitlines()[-1].startswith("error: recipe.freeze_encoder=true trains the decoder")


def test_stage2_trains_on_stage1_resumes_and_generates(stage1):
    work = stage1
    args = [*TINY, f"tokenizer_dir={work / 'tok' / 'tokenizer'}", "gpt=tiny", "gpt.prompt_length=16",
            "gpt.text_vocab_size=300", "recipe.warmup_steps=1"]
    _run("vidgpt.cli.train_gpt", *args, "trainer.max_steps=2", f"hydra.run.dir={work / 'gpt'}", cwd=work)
    run = work / "gpt"
    assert _step(run / "checkpoints" / "last.ckpt") == 2
    assert (run / "gpt" / "vidgpt.json").is_file() and (run / "tokenizer" / "config.json").is_file()

    # resume=<run folder> reuses that folder and continues the step count, not from scratch
    _run("vidgpt.cli.train_gpt", *args, "trainer.max_steps=4", f"resume={run}", cwd=work)
    assert _step(run / "checkpoints" / "last.ckpt") == 4

    out = work / "samples"
    proc = _run("vidgpt.cli.generate", f"model={run}", f"out_dir={out}", "schedule=raster", cwd=work)
    record = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert (out / record["file"]).is_file() and str(out / record["file"]) in proc.stdout

    # init_from=<model folder> fine-tunes it: its weights (the preset is ignored), a fresh step count, and
    # stage 1 comes with the model. With lr 0 the export must equal the model it started from.
    tuned = work / "tuned"
    _run("vidgpt.cli.train_gpt", *TINY, "recipe.lr=0", "trainer.max_steps=2", f"init_from={run}",
         f"hydra.run.dir={tuned}", cwd=work)
    assert _step(tuned / "checkpoints" / "last.ckpt") == 2
    start, end = (load_file(d / "gpt" / "model.safetensors") for d in (run, tuned))
    assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in start)


def test_bad_input_is_one_line_not_a_traceback(stage1):
    proc = _run("vidgpt.cli.train_gpt", "tokenizer_dir=/no/such/dir", cwd=stage1, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: tokenizer_dir=/no/such/dir: not a tokenizer folder (no config.json)")
    assert "Traceback" not in proc.stderr
    proc = _run("vidgpt.cli.train_gpt", "init_from=/no/such/model", cwd=stage1, ok=False)
    assert proc.stderr.strip().splitlines()[-1] == "error: init_from=/no/such/model: no such model folder"
    proc = _run("vidgpt.cli.train_tokenizer", "no_such_key=1", cwd=stage1, ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "no_such_key" in proc.stderr
