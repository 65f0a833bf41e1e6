"""The bad-input catalogue: every input a person can get wrong gives one clear line naming the key, file or value.

One table, three kinds of row: a command (its Hydra `main` run in-process, as the console script runs it:
exit status 2 and exactly one `error: ...` line on stderr), a library call (the exception and its message),
and input that is accepted with a warning (the warning's text). Two rows also run a real console process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from vidgpt.cli import generate as generate_cli
from vidgpt.cli import train_gpt as train_gpt_cli
from vidgpt.cli import train_tokenizer as train_tokenizer_cli
from vidgpt.cli.runs import resume_checkpoint
from vidgpt.generator import VideoGenerator
from vidgpt.samples import SampleOptions, generate_samples, load_first_frames, read_prompts_file
from vidgpt.train.fingerprint import tokenizer_fingerprint
from vidgpt.train.pretokenize import pretokenize
from vidgpt.train.shards import TokenShardDataset, shard_name
from vidtok.data.folder import FolderDataset
from vidtok.data.shapes import ShapesDataset
from vidtok.model import TokenizerConfig, VideoTokenizer

CLI = "cli"  # a command: exit 2, one `error:` line
WARN = "warn"  # accepted, with a UserWarning
PROMPT = "a small red circle moves up quickly"
BLANK_LINE = f"{PROMPT}\n\n{PROMPT}\n"
LATIN1 = "café au lait".encode("latin-1")  # é is one byte that UTF-8 cannot start a character with here


def messages(stderr: str) -> list[str]:
    """The lines of stderr a person reads, progress bars (loading weights) aside."""
    return [x for x in stderr.splitlines() if x.strip() and not re.search(r"\d+%\|", x)]


@dataclass
class Cli:
    code: int
    stderr: str


def cli(module: Any, *args: str) -> Cli:
    """Run a command's console `main()` in this process with `args`, as `vidgpt-...` would."""
    argv = sys.argv
    sys.argv = [module.__name__, *args, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            module.main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
    return Cli(code, err.getvalue())


class Ctx:
    """What a case may use: the tiny model folder (read-only), a scratch folder, a loaded generator."""

    def __init__(self, model: Path, tmp: Path, generator: VideoGenerator) -> None:
        self.model, self.tmp, self.generator = model, tmp, generator

    def gen(self, *args: str) -> Cli:
        return cli(generate_cli, f"model={self.model}", f"out_dir={self.tmp / 'out'}", "formats=[gif]", *args)

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def model_copy(self, edit: Callable[[Path], Any], file: str) -> Path:
        """A copy of the model folder, its `file` damaged by `edit(path)`."""
        copy = self.tmp / "model"
        shutil.copytree(self.model, copy)
        edit(copy / file)
        return copy

    def shards(self, damage: bool) -> Path:
        """A token-shard folder of two clips, its one shard with a bit flipped when `damage`."""
        out = self.tmp / "shards"
        pretokenize(ShapesDataset("train", length=2, frames=5, size=32), self.generator.tokenizer, out, shard_size=2,
                    progress=False)
        if damage:
            data = bytearray((out / shard_name(0)).read_bytes())
            data[-1] ^= 0x01
            (out / shard_name(0)).write_bytes(bytes(data))
        return out


def edit_json(path: Path, **entries: Any) -> None:
    d = json.loads(path.read_text())
    d.update(entries)
    path.write_text(json.dumps(d))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def other_tokenizer(codebook_size: int) -> VideoTokenizer:
    torch.manual_seed(1)
    return VideoTokenizer(TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], codebook_size=codebook_size)).eval()


def video(frames: int = 9, size: int = 32, channels: int = 3) -> torch.Tensor:
    return torch.zeros(1, channels, frames, size, size)


# (id, call, expected: CLI | WARN | exception type, distinctive text of the message)
CASES: list[tuple[str, Callable[[Ctx], Any], Any, str]] = [
    # ---- commands and their configs
    ("cli unknown config key", lambda c: c.gen("no_such=1"), CLI,
     "error: Could not override 'no_such'. To append to your config use +no_such=1 (Key 'no_such' is not in struct)"),
    ("cli unknown config group option", lambda c: cli(train_gpt_cli, "gpt=huge"), CLI,
     "error: In 'train_gpt': Could not find 'gpt/huge'; Available options in 'gpt': demo, large, medium, mini, small, tiny"),
    ("cli unparsable override", lambda c: c.gen("samples=[1,"), CLI, "error: cannot parse 'samples=[1,'"),
    ("cli missing mandatory key", lambda c: cli(train_gpt_cli, f"hydra.run.dir={c.tmp / 'run'}"), CLI,
     "error: name stage 1 with tokenizer_dir=<tokenizer folder>, or a model to fine-tune with init_from=<model folder>"),
    ("cli wrong type int", lambda c: c.gen("samples=abc"), CLI, "error: samples='abc': expected an integer"),
    ("cli wrong type float", lambda c: c.gen("cfg_scale=high"), CLI, "error: cfg_scale='high': expected a number"),
    ("cli frames zero", lambda c: c.gen("frames=0"), CLI, "error: frames=0: must be >= 1"),
    ("cli batch size zero", lambda c: c.gen("batch_size=0"), CLI, "error: batch_size=0: must be >= 1"),
    ("cli negative top_k", lambda c: c.gen("top_k=-5"), CLI, "error: top_k=-5: must be >= 1"),
    ("cli dataset frames zero",
     lambda c: cli(train_tokenizer_cli, "data.train.frames=0", f"hydra.run.dir={c.tmp / 'run'}"), CLI,
     "error: data.train: frames must be a positive integer, got 0"),
    ("cli missing checkpoint", lambda c: c.gen(f"model={c.tmp / 'nowhere'}"), CLI,
     "error: model={tmp}/nowhere: no such folder"),
    ("cli missing prompts file", lambda c: c.gen(f"prompts_file={c.tmp / 'p.txt'}"), CLI,
     "error: prompts_file not found: {tmp}/p.txt"),
    ("cli non-UTF-8 prompts file", lambda c: c.gen(f"prompts_file={c.file('p.txt', LATIN1)}"), CLI,
     "p.txt: not UTF-8 text (invalid continuation byte at byte 3)"),
    ("cli blank line in prompts file", lambda c: c.gen(f"prompts_file={c.file('p.txt', BLANK_LINE)}"), CLI,
     "p.txt:2: blank line (write one prompt per line)"),
    ("cli missing image", lambda c: c.gen(f"image={c.tmp / 'first.png'}"), CLI, "error: not found: {tmp}/first.png"),
    ("cli unknown dtype", lambda c: c.gen("dtype=half"), CLI,
     "error: dtype='half': choose one of float32, bfloat16, float16"),
    ("cli corrupt video", lambda c: c.gen(f"video={c.file('clip.mp4', b'not a video' * 50)}"), CLI,
     "error: cannot read video {tmp}/clip.mp4: not a readable video"),
    ("cli unwritable output folder", lambda c: c.gen(f"out_dir={c.file('f', '')}/sub"), CLI,
     "error: cannot write the run folder: [Errno 20] Not a directory"),
    ("cli corrupt safetensors", lambda c: c.gen(f"model={c.model_copy(truncate, 'tokenizer/model.safetensors')}"), CLI,
     "error: {tmp}/model/tokenizer/model.safetensors is not a readable safetensors file"),
    # ---- files and checkpoints
    ("missing video", lambda c: load_first_frames(c.tmp / "clip.mp4", 32, frames=5), FileNotFoundError,
     "not found: {tmp}/clip.mp4"),
    ("corrupt image", lambda c: load_first_frames(c.file("first.png", b"\x89PNG broken"), 32), ValueError,
     "cannot read image"),
    ("over-long prompts file line", lambda c: read_prompts_file(c.file("p.txt", "x" * 400)), ValueError,
     "p.txt:1: prompt of 400 characters (limit 300)"),
    ("unwritable output folder", lambda c: generate_samples(c.generator, [PROMPT], c.file("f", "") / "sub",
                                                            SampleOptions()), PermissionError,
     "output folder {tmp}/f/sub is not writable: Not a directory"),
    ("missing resume checkpoint", lambda c: resume_checkpoint(str(c.tmp)), FileNotFoundError,
     "no checkpoints/last.ckpt in that run folder"),
    ("missing GPT weights",
     lambda c: VideoGenerator.from_pretrained(c.model_copy(Path.unlink, "gpt/model.safetensors")), FileNotFoundError,
     "VidGPT weights not found: {tmp}/model/gpt/model.safetensors"),
    ("truncated GPT safetensors",
     lambda c: VideoGenerator.from_pretrained(c.model_copy(truncate, "gpt/model.safetensors")), ValueError,
     "{tmp}/model/gpt/model.safetensors is not a readable safetensors file"),
    ("tokenizer config.json with unknown key", lambda c: VideoGenerator.from_pretrained(
        c.model_copy(lambda f: edit_json(f, chanels=[8, 16]), "tokenizer/config.json")), ValueError,
     "{tmp}/model/tokenizer/config.json: unknown key(s) ['chanels']"),
    ("tokenizer config.json not JSON", lambda c: VideoGenerator.from_pretrained(
        c.model_copy(lambda f: f.write_text("{oops"), "tokenizer/config.json")), ValueError,
     "{tmp}/model/tokenizer/config.json: not valid JSON"),
    ("vidgpt.json with unknown key", lambda c: VideoGenerator.from_pretrained(
        c.model_copy(lambda f: edit_json(f, prompt_lenght=32), "gpt/vidgpt.json")), ValueError,
     "{tmp}/model/gpt/vidgpt.json: unknown key(s) ['prompt_lenght']"),
    ("damaged token shard", lambda c: TokenShardDataset(c.shards(damage=True)), ValueError,
     "shard-00000.safetensors is damaged"),
    # ---- tokenizer and generator calls
    ("mismatched tokenizer and GPT", lambda c: VideoGenerator(c.generator.gpt, other_tokenizer(125)), ValueError,
     "tokenizer mismatch: the GPT was trained on a tokenizer with codebook_size=64, this one has codebook_size=125"),
    ("same layout, other tokenizer weights", lambda c: _fingerprint_mismatch(c), ValueError,
     "(same layout, other weights)"),
    ("codes out of range in decode", lambda c: c.generator.tokenizer.decode(torch.full((1, 3, 4, 4), 64)), ValueError,
     "codes must lie in [0, 64), got values in [64, 64]"),
    ("wrong channel count", lambda c: c.generator.tokenizer.encode(video(channels=4)), ValueError,
     "expected a float video shaped (B, 3, T, H, W) in [-1, 1], got (1, 4, 9, 32, 32)"),
    ("RGBA first frame", lambda c: c.generator.generate(PROMPT, image=np.zeros((32, 32, 4), np.uint8), decode=False),
     ValueError, "image must be uint8 with 3 or 4 dims ending in 3 channels, got (32, 32, 4)"),
    ("size not divisible", lambda c: c.generator.tokenizer.encode(video(size=30)), ValueError,
     "height 30 and width 30 must be positive multiples of spatial_factor 8"),
    ("negative frames", lambda c: c.generator.generate(PROMPT, frames=-1, decode=False), ValueError,
     "frames=-1: must be >= 1"),
    # ---- data
    ("zero-size Shapes clips", lambda c: ShapesDataset("train", length=4, frames=9, size=0), ValueError,
     "size must be an integer >= 16, got 0"),
    ("missing video folder", lambda c: FolderDataset(c.tmp / "clips", frames=9, size=32), FileNotFoundError,
     "no such folder or manifest"),
    # ---- accepted with a warning
    ("over-long prompt is truncated", lambda c: c.generator.generate(PROMPT + " and then" * 20, decode=False), WARN,
     "tokens; truncated to the model's 16"),
    ("more frames than the model", lambda c: c.generator.generate(PROMPT, frames=13, schedule="diagonal", decode=False),
     WARN, "frames=13 is longer than the model's 3 latent frames (9 frames): generating with a sliding window"),
]


def _fingerprint_mismatch(c: Ctx) -> VideoGenerator:
    """A GPT that recorded its tokenizer's fingerprint, as training does, given another tokenizer of the same layout."""
    def record(path: Path) -> None:
        ident = json.loads(path.read_text())["tokenizer"]
        edit_json(path, tokenizer={**ident, "fingerprint": tokenizer_fingerprint(c.generator.tokenizer)})

    gpt = c.model_copy(record, "gpt/vidgpt.json") / "gpt"
    VideoGenerator.from_pretrained(gpt, tokenizer=c.generator.tokenizer)  # its own tokenizer passes
    return VideoGenerator.from_pretrained(gpt, tokenizer=other_tokenizer(64))


@pytest.fixture(autouse=True)
def hydra_reports_errors(monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # set, it would ask Hydra for its tracebacks


@pytest.fixture(scope="module")
def generator(tiny_model_dir) -> VideoGenerator:
    return VideoGenerator.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("call, expected, text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_message(call, expected, text, tiny_model_dir, generator, tmp_path):
    ctx = Ctx(tiny_model_dir, tmp_path, generator)
    text = text.replace("{tmp}", str(tmp_path))
    if expected == CLI:
        result = call(ctx)
        assert result.code == 2, result.stderr
        lines = messages(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert text in lines[0]
        assert "HYDRA_FULL_ERROR" not in os.environ  # set only for the command's own run
    elif expected == WARN:
        with pytest.warns(UserWarning, match=re.escape(text)):
            call(ctx)
    else:
        with pytest.raises(expected, match=re.escape(text)) as info:
            call(ctx)
        assert "\n" not in str(info.value)


def test_catalogue_covers_the_required_kinds():
    assert len(CASES) >= 24 and len({c[0] for c in CASES}) == len(CASES)


def test_console_command_prints_one_line_and_exits_2(tmp_path):
    """The real console process: Hydra's own multi-line report is replaced by one line, and the status is 2."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, "-m", "vidgpt.cli.generate", "no_such=1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert messages(proc.stderr) == ["error: Could not override 'no_such'. To append to your config use +no_such=1 "
                                     "(Key 'no_such' is not in struct)"]
