"""Faults: training and pre-tokenizing killed with SIGKILL and resumed, NaN stops, crafted checkpoints, atomic exports.

The kill tests run the real console commands as subprocesses and kill them at a moment chosen by polling
for their output (a checkpoint, a shard), plus a random delay, so the kill also lands inside writes.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import safetensors.torch
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from vidgpt.cli.runs import run_folder
from vidtok.train.trainer import AtomicCheckpointIO, build_trainer
from vidgpt.model import VidGPT
from vidgpt.train.export import ExportCallback
from vidgpt.train.module import model_from_checkpoint
from vidgpt.train.pretokenize import pretokenize
from vidgpt.train.shards import TokenShardDataset, read_shard_manifest, shard_bytes, shard_name
from vidtok.shapes.world import ShapesDataset
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.train.checkpoint import load_checkpoint
from vidtok.train.faults import NonFiniteLossError, check_finite_loss
from vidtok.train.fit import train_tokenizer
from vidtok.train.module import TrainConfig

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
QUIET = dict(accelerator="cpu", enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
# A tiny real run of either stage: 9x32x32 clips, validation out of the way, one process (no workers to orphan).
TINY = ["frames=9", "size=32", "data.batch_size=2", "data.num_workers=0", "data.train.length=64", "data.val.length=2",
        "trainer.val_check_interval=1000", "trainer.log_every_n_steps=1", "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false", "checkpoint_every_n_steps=2"]
STAGE_ARGS = {
    "vidgpt.cli.train_tokenizer": ["tokenizer.channels=[8,16]", "tokenizer.pixel_channels=[8]", "tokenizer.blocks=1", "tokenizer.codebook_size=64"],
    "vidgpt.cli.train_gpt": ["gpt=tiny", "gpt.prompt_length=16", "gpt.text_vocab_size=300", "recipe.warmup_steps=1",
                             "export_every_n_steps=3"],
}
TINY_TOKENIZER = TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], codebook_size=64)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return VideoTokenizer(TINY_TOKENIZER).save_pretrained(tmp_path_factory.mktemp("faults") / "tokenizer")


def _step(ckpt: Path) -> int:
    return load_checkpoint(ckpt)["global_step"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name)


# ---------------------------------------------------------------- training killed with SIGKILL, resumed
def _launch(module: str, *args: str, cwd: Path) -> subprocess.Popen:
    """Start a command; its stderr goes to a file (a pipe nobody reads would stall it once full)."""
    with open(cwd / f"stderr-{time.monotonic_ns()}.txt", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=err)
    proc.stderr_path = Path(err.name)
    return proc


def _stderr(proc: subprocess.Popen) -> str:
    return proc.stderr_path.read_text()[-3000:]


def _main_in_process(module: str, *args: str) -> tuple[int, str]:
    """Run a command's console `main()` in this process, as its console script would: (exit code, stderr)."""
    argv = sys.argv
    sys.argv = [module, *args, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            importlib.import_module(module).main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
    return code, err.getvalue()


def _kill_when(proc: subprocess.Popen, ready, rng: random.Random, what: str) -> None:
    """SIGKILL `proc` soon after `ready()` holds (at a random moment of what follows); it must not end first."""
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline and not ready():
            time.sleep(0.02)
        assert proc.poll() is None, f"{what} ended before it could be killed:\n{_stderr(proc)}"
        time.sleep(rng.uniform(0.0, 0.1))  # somewhere in the next few steps, or inside the next write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{what} ended by itself before the kill"


def _kill_after_checkpoint(proc: subprocess.Popen, ckpt: Path, after_step: int, rng: random.Random) -> None:
    """SIGKILL `proc` soon after `ckpt` holds a step beyond `after_step`."""
    _kill_when(proc, lambda: ckpt.is_file() and _step(ckpt) > after_step, rng, "the run (raise max_steps)")


def _train_killed_and_resumed(module: str, extra: list[str], work: Path, kills: int, max_steps: int,
                              resume_extra: list[str] | None = None) -> Path:
    """Launch a training, SIGKILL it `kills` times after a new checkpoint, resume it to the end; returns the run.
    `resume_extra`: the options the resumes repeat (default: `extra`, the whole first command again)."""
    run, rng = work / "run", random.Random(kills)
    common = [*TINY, *STAGE_ARGS[module], f"trainer.max_steps={max_steps}"]
    args, resume_args = [*common, *extra], [*common, *(extra if resume_extra is None else resume_extra)]
    ckpt, reached = run / "checkpoints" / "last.ckpt", 0
    for k in range(kills):
        where = [*args, f"hydra.run.dir={run}"] if k == 0 else [*resume_args, f"resume={run}"]
        _kill_after_checkpoint(_launch(module, *where, cwd=work), ckpt, reached, rng)
        step = _step(ckpt)  # the kill never leaves a damaged last.ckpt, and it never goes back
        assert reached < step < max_steps
        reached = step
    code, err = _main_in_process(module, *resume_args, f"resume={run}")  # without paying its imports again
    assert code == 0, err[-3000:]
    assert _step(ckpt) == max_steps
    assert _leftovers(run) == []  # the temporaries of killed writes were swept
    return run


def test_gpt_training_killed_resumes_to_the_end(tmp_path, tokenizer_dir):
    """Stage 2 through `vidgpt-train`, SIGKILLed once after a checkpoint, then `resume=` to max_steps. The
    resume names no stage 1: the run goes on with the tokenizer it copied into its folder."""
    run = _train_killed_and_resumed("vidgpt.cli.train_gpt", [f"tokenizer_dir={tokenizer_dir}"], tmp_path,
                                    kills=1, max_steps=40, resume_extra=[])
    model = model_from_checkpoint(run / "checkpoints" / "last.ckpt")
    exported = VidGPT.from_pretrained(run / "gpt")
    for name, p in model.state_dict().items():
        assert torch.equal(p, exported.state_dict()[name]), name  # the final export is the final checkpoint


@pytest.mark.slow  # two launches and a resume per stage: ~40 s each on a loaded 2-core machine
@pytest.mark.parametrize("module", ["vidgpt.cli.train_tokenizer", "vidgpt.cli.train_gpt"])
def test_training_killed_twice_resumes_to_the_end(tmp_path, tokenizer_dir, module):
    extra = [f"tokenizer_dir={tokenizer_dir}"] if module == "vidgpt.cli.train_gpt" else []
    run = _train_killed_and_resumed(module, extra, tmp_path, kills=2, max_steps=60)
    if module == "vidgpt.cli.train_tokenizer":
        VideoTokenizer.from_pretrained(run / "tokenizer")
    else:
        VidGPT.from_pretrained(run / "gpt")


# ---------------------------------------------------------------- pre-tokenizing killed, resumed
def test_shard_bytes_do_not_depend_on_hash_order():
    """safetensors orders its metadata by a per-map random hash; our shards must not, or resumed runs differ."""
    codes = torch.arange(2 * 3 * 4 * 4, dtype=torch.int16).reshape(2, 3, 4, 4)
    meta = {"captions": json.dumps(["a red cat", "é"]), "first": "8", "tokenizer_fingerprint": "f" * 64}
    blobs = {shard_bytes(codes, dict(sorted(meta.items(), key=lambda kv: hash((kv[0], i))))) for i in range(20)}
    assert len(blobs) == 1
    blob = blobs.pop()
    assert int.from_bytes(blob[:8], "little") % 8 == 0  # tensor data stays 8-byte aligned
    loaded = safetensors.torch.load(blob)
    assert torch.equal(loaded["codes"], codes)
    header = json.loads(blob[8: 8 + int.from_bytes(blob[:8], "little")])
    assert header["__metadata__"] == meta


def test_pretokenize_interrupted_mid_write_resumes_to_the_same_shards(tmp_path, tokenizer_dir, monkeypatch):
    """In-process stand-in for the SIGKILL test below: stopped with a shard written but not yet renamed."""
    import vidgpt.train.pretokenize as pretokenize_module

    tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir)
    dataset = ShapesDataset("train", length=10, frames=5, size=32)
    kw = dict(shard_size=2, batch_size=2, progress=False)
    renames, real_replace = [], pretokenize_module.replace_file

    def killed_at_third(tmp, path):
        renames.append(path)
        if len(renames) == 3:
            raise KeyboardInterrupt  # what SIGINT raises; SIGKILL stops at the same point without unwinding
        real_replace(tmp, path)

    monkeypatch.setattr(pretokenize_module, "replace_file", killed_at_third)
    with pytest.raises(KeyboardInterrupt):
        pretokenize(dataset, tokenizer, tmp_path / "out", **kw)
    monkeypatch.setattr(pretokenize_module, "replace_file", real_replace)
    assert list(read_shard_manifest(tmp_path / "out")["shards"]) == [shard_name(0), shard_name(1)]
    resumed = pretokenize(dataset, tokenizer, tmp_path / "out", **kw)
    assert resumed.skipped == [shard_name(0), shard_name(1)] and resumed.written == [shard_name(k) for k in (2, 3, 4)]
    pretokenize(dataset, tokenizer, tmp_path / "reference", **kw)
    got, want = (read_shard_manifest(tmp_path / d)["shards"] for d in ("out", "reference"))
    assert got == want  # same shards, same SHA-256s, each once
    assert not [p.name for p in (tmp_path / "out").iterdir() if ".tmp-" in p.name]


@pytest.mark.slow  # one launch of the command (~15 s idle, ~30 s on a loaded 2-core machine); fast stand-in above
def test_pretokenize_killed_midway_resumes_to_the_same_shards(tmp_path, tokenizer_dir):
    """A killed `vidgpt-pretokenize` re-run gives byte for byte the shards of an uninterrupted run."""
    items, shard, frames, size = 120, 4, 17, 64
    out = tmp_path / "killed"
    proc = _launch("vidgpt.cli.pretokenize", f"tokenizer_dir={tokenizer_dir}", f"out_dir={out}", f"frames={frames}",
                   f"size={size}", f"data.train.length={items}", f"shard_size={shard}", "batch_size=2",
                   "data.num_workers=0", cwd=tmp_path)
    manifest = out / "manifest.json"
    _kill_when(proc, lambda: manifest.is_file() and len(json.loads(manifest.read_text())["shards"]) >= 2,
               random.Random(0), "pretokenize")
    done = read_shard_manifest(out)["shards"]
    assert 2 <= len(done) < items // shard

    tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir)
    dataset = ShapesDataset("train", length=items, frames=frames, size=size)  # what conf/data/shapes.yaml builds
    kw = dict(shard_size=shard, batch_size=2, progress=False)
    resumed = pretokenize(dataset, tokenizer, out, **kw)
    assert set(resumed.skipped) == set(done) and set(resumed.written).isdisjoint(done)
    reference = tmp_path / "uninterrupted"
    pretokenize(dataset, tokenizer, reference, **kw)

    got, want = read_shard_manifest(out)["shards"], read_shard_manifest(reference)["shards"]
    assert list(got) == [shard_name(k) for k in range(items // shard)]  # each shard once, none missing
    assert [e["sha256"] for e in got.values()] == [e["sha256"] for e in want.values()]
    assert [(e["first"], e["count"]) for e in got.values()] == [(k * shard, shard) for k in range(items // shard)]
    assert torch.equal(TokenShardDataset(out, tokenizer).codes, TokenShardDataset(reference).codes)
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]


# ---------------------------------------------------------------- NaN and inf
class Boxes(Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict:
        v = torch.full((3, 5, 32, 32), -1.0)
        v[0, :, i % 20: i % 20 + 6, 3:9] = 0.8
        return {"video": v}


class PoisonAt(Callback):
    """Fill one weight with NaN when `step` optimizer steps are done: before that step's batch, or after it."""

    def __init__(self, step: int, after: bool = False) -> None:
        self.step, self.after = step, after

    def _poison(self, trainer, pl_module) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        if not self.after:
            self._poison(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.after:
            self._poison(trainer, pl_module)


class TwoRanks:
    """A stand-in for a Trainer's strategy over 2 ranks: the other rank's loss is finite or not."""

    def __init__(self, other_finite: bool) -> None:
        self.other_finite = other_finite

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return (decision and self.other_finite) if all else (decision or self.other_finite)


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step():
    """Each rank raises, so none is left waiting in the next gradient all-reduce."""
    check_finite_loss(torch.tensor(1.0), "training loss", 5, TwoRanks(other_finite=True))  # both fine: no error
    with pytest.raises(NonFiniteLossError, match=r"^training loss is nan at step 5 \(epoch 0, batch 5\); stopped"):
        check_finite_loss(torch.tensor(float("nan")), "training loss", 5, TwoRanks(other_finite=True),
                          " (epoch 0, batch 5)")
    with pytest.raises(NonFiniteLossError, match=r"^training loss is finite here but not on another rank at step 5;"):
        check_finite_loss(torch.tensor(1.0), "training loss", 5, TwoRanks(other_finite=False))


def _all_finite(ckpt: dict) -> bool:
    return all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_tokenizer_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    trainer = build_trainer(dict(max_steps=8, **QUIET), tmp_path, checkpoint_every_n_steps=1, callbacks=[PoisonAt(3)])
    cfg = TrainConfig(crop=None, max_steps=8, warmup_steps=1)
    with pytest.raises(NonFiniteLossError, match=r"^training loss is nan at step 3; stopped"):
        train_tokenizer(TINY_TOKENIZER, Boxes(), out_dir=tmp_path,
                        train_cfg=cfg, batch_size=2, trainer=trainer)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 3 and _all_finite(last)
    assert not (tmp_path / "tokenizer").exists()  # no export of the broken weights


class _Linear(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        return self.model(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_weights_broken_by_a_finite_step_never_reach_a_checkpoint(tmp_path):
    """Weights gone NaN after a step whose loss was finite: the checkpoint due then is refused, not written."""
    data = DataLoader(torch.utils.data.TensorDataset(torch.randn(32, 2)), batch_size=2)
    trainer = build_trainer(dict(max_steps=8, **QUIET), tmp_path, checkpoint_every_n_steps=2,
                            callbacks=[PoisonAt(4, after=True)])
    with pytest.raises(NonFiniteLossError, match=r"weights not finite at step 4 \(model\.weight\)"):
        trainer.fit(_Linear(), data)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 2 and _all_finite(last)


def test_export_of_non_finite_weights_is_refused(tmp_path, tiny_model_dir):
    gpt = VidGPT.from_pretrained(tiny_model_dir / "gpt")
    module = L.LightningModule()
    module.model = gpt
    export = ExportCallback(tmp_path / "gpt")
    export.on_train_end(SimpleNamespace(global_step=5, is_global_zero=True), module)
    before = (tmp_path / "gpt" / "model.safetensors").read_bytes()
    with torch.no_grad():
        next(gpt.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(NonFiniteLossError, match="weights not finite at step 6"):
        export.on_train_end(SimpleNamespace(global_step=6, is_global_zero=True), module)
    assert (tmp_path / "gpt" / "model.safetensors").read_bytes() == before  # the last good export stays


# ---------------------------------------------------------------- crafted checkpoints
class _Payload:
    """Unpickling this would call open(marker, "w"): a file appears if the checkpoint's code ever runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def crafted(tmp_path) -> tuple[Path, Path]:
    marker, path = tmp_path / "PAYLOAD_RAN", tmp_path / "run" / "checkpoints" / "evil.ckpt"
    path.parent.mkdir(parents=True)
    honest = _Linear()
    torch.save({"global_step": 1, "state_dict": honest.state_dict(), "vidgpt": {"config": _Payload(marker)},
                "pytorch-lightning_version": L.__version__}, path)
    assert not marker.exists()
    return path, marker


def test_crafted_checkpoint_is_refused_and_never_run(crafted):
    path, marker = crafted
    refused = r"refused to load checkpoint .*evil\.ckpt: it holds pickled objects that could run code \(.*open"
    with pytest.raises(ValueError, match=refused):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=refused):
        model_from_checkpoint(path)  # stage 2's resume reads it first
    with pytest.raises(ValueError, match=refused):
        train_tokenizer(TINY_TOKENIZER, Boxes(), out_dir=path.parent, resume=path)  # stage 1's resume, any Trainer
    assert not marker.exists()


def test_lightning_resume_through_our_trainer_loads_plain_data_only(crafted, tmp_path):
    """`trainer.fit(ckpt_path=...)` reads through AtomicCheckpointIO (weights_only), whatever Lightning's default."""
    path, marker = crafted
    trainer = build_trainer(dict(max_steps=2, **QUIET), tmp_path / "run", checkpoint_every_n_steps=2)
    data = DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=2)
    with pytest.raises(ValueError, match="refused to load checkpoint"):
        trainer.fit(_Linear(), data, ckpt_path=str(path))
    assert not marker.exists()
    # and our own checkpoints are plain data: a run resumes from them
    build_trainer(dict(max_steps=2, **QUIET), tmp_path / "run", checkpoint_every_n_steps=2).fit(_Linear(), data)
    resumed = build_trainer(dict(max_steps=4, **QUIET), tmp_path / "run", checkpoint_every_n_steps=2)
    resumed.fit(_Linear(), data, ckpt_path=str(tmp_path / "run" / "checkpoints" / "last.ckpt"))
    assert resumed.global_step == 4


def test_resume_from_a_checkpoint_file_continues_in_its_run_folder(tmp_path):
    assert run_folder(str(tmp_path / "run" / "checkpoints" / "step00000004.ckpt")) == str(tmp_path / "run")
    assert run_folder(str(tmp_path / "loose.ckpt")) is None  # a checkpoint outside a run: a new run folder
    assert run_folder(str(tmp_path / "run")) == str(tmp_path / "run")
    assert run_folder(None) is None and run_folder("") is None


def test_damaged_checkpoint_is_one_clear_error(tmp_path):
    good = tmp_path / "good.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "state_dict": _Linear().state_dict()}, good)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(good.read_bytes()[:200])  # cut short, as by a copy that died
    with pytest.raises(ValueError, match=r"checkpoint .*bad\.ckpt is damaged or not a checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt"):
        load_checkpoint(tmp_path / "nowhere.ckpt")


@pytest.mark.parametrize("module", ["vidgpt.cli.train_tokenizer", "vidgpt.cli.train_gpt"])
def test_cli_refuses_crafted_resume_in_one_line(crafted, tokenizer_dir, module):
    path, marker = crafted
    extra = [f"tokenizer_dir={tokenizer_dir}"] if module == "vidgpt.cli.train_gpt" else []
    code, err = _main_in_process(module, *TINY, *extra, f"resume={path}")  # continues in tmp_path/run
    assert code == 2, err[-3000:]
    assert err.strip().splitlines() == [f"error: refused to load checkpoint {path}: it holds pickled objects that "
                                        "could run code (Unsupported global: GLOBAL io.open); only tensors, numbers "
                                        "and strings are loaded"]
    assert not marker.exists()


# ---------------------------------------------------------------- atomic exports
def test_export_killed_midway_leaves_the_previous_one(tmp_path, monkeypatch):
    """A save that dies while writing (as a kill would) leaves the previous export whole, and no temporary."""
    torch.manual_seed(0)
    first, second = VideoTokenizer(TINY_TOKENIZER), VideoTokenizer(TINY_TOKENIZER)
    folder = first.save_pretrained(tmp_path / "tokenizer")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    import vidtok.model.tokenizer as tokenizer_module

    def dies(*args, **kwargs):
        raise KeyboardInterrupt  # what a signal raises mid-write

    monkeypatch.setattr(tokenizer_module, "save_file", dies)
    with pytest.raises(KeyboardInterrupt):
        second.save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer"]


def test_export_sweeps_what_a_killed_writer_left_and_spares_foreign_folders(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no running process
    (tmp_path / f".tokenizer.tmp-{dead.pid}").mkdir()
    (tmp_path / f".tokenizer.tmp-{dead.pid}" / "model.safetensors").write_bytes(b"half")
    (tmp_path / f".tokenizer.old-{dead.pid}").mkdir()
    VideoTokenizer(TINY_TOKENIZER).save_pretrained(tmp_path / "tokenizer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer"]

    mine = tmp_path / "my_stuff"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="my_stuff holds other files and no config.json"):
        VideoTokenizer(TINY_TOKENIZER).save_pretrained(mine)
    assert (mine / "notes.txt").read_text() == "keep me"
