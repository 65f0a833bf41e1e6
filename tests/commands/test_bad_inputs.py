"""The bad-input catalogue: every input a person can get wrong gives one clear line naming the key, file or value.

One table, three kinds of row: a command (its Hydra or argparse `main` run in-process, as the console script
runs it: exit status 2, exactly one `error: ...` line on stderr, and no finished output written), a library
call (the exception and its message), and input that is accepted with a warning (the warning's text). Two
rows also run a real console process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from vidgpt.cli import evaluate as evaluate_cli
from vidgpt.cli import evaluate_tokenizer as evaluate_tokenizer_cli
from vidgpt.cli import generate as generate_cli
from vidgpt.cli import learning_curve as learning_curve_cli
from vidgpt.cli import pretokenize as pretokenize_cli
from vidgpt.cli import replace_decoder as replace_decoder_cli
from vidgpt.cli import studio as studio_cli
from vidgpt.cli import train_gpt as train_gpt_cli
from vidgpt.cli import train_tokenizer as train_tokenizer_cli
from vidgpt.cli.runs import resume_checkpoint
from vidgpt.generator import VideoGenerator
from vidgpt.samples import SampleOptions, generate_samples, load_first_frames, read_prompts_file
from vidtok.model.fingerprint import tokenizer_fingerprint
from vidgpt.train.pretokenize import pretokenize
from vidgpt.train.shards import TokenShardDataset, shard_name
from vidtok.data.folder import FolderDataset
from vidtok.shapes.world import ShapesDataset
from vidtok.io import write_video
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


def argcli(module: Any, *args: str) -> Cli:
    """Run an argparse command's `main(argv)` in this process, as `vidtok-evaluate ...` would."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = module.main(list(args))
    except SystemExit as e:
        code = e.code
    return Cli(code, err.getvalue())


# What a command writes when it gets to work: none of it may exist in an output folder after it refused its
# input. (A case writes its input files at the top of its scratch folder, or in these folders.)
PRODUCTS = ("*.gif", "*.mp4", "*.png", "*.safetensors", "*.ckpt", "samples.jsonl", "report.*", "learning_curve.*",
            "shard-*")
INPUTS = ("model", "clips")


class Ctx:
    """What a case may use: the tiny model folder (read-only), a scratch folder, a loaded generator."""

    def __init__(self, model: Path, tmp: Path, generator: VideoGenerator) -> None:
        self.model, self.tmp, self.generator = model, tmp, generator

    def gen(self, *args: str) -> Cli:
        return cli(generate_cli, f"model={self.model}", f"out_dir={self.tmp / 'out'}", "formats=[gif]", *args)

    def tok(self, *args: str) -> Cli:
        return cli(train_tokenizer_cli, f"hydra.run.dir={self.tmp / 'run'}", *args)

    def gpt(self, *args: str) -> Cli:
        return cli(train_gpt_cli, f"tokenizer_dir={self.model / 'tokenizer'}", f"hydra.run.dir={self.tmp / 'run'}", *args)

    def evaluate(self, *args: str) -> Cli:
        return cli(evaluate_cli, f"model={self.model}", f"out_dir={self.tmp / 'eval'}", *args)

    def pretok(self, *args: str) -> Cli:
        return cli(pretokenize_cli, f"tokenizer_dir={self.model / 'tokenizer'}", f"out_dir={self.tmp / 'shards'}", *args)

    def studio(self, *args: str) -> Cli:
        return cli(studio_cli, f"model={self.model}", f"out_dir={self.tmp / 'studio'}", *args)

    def ended_stream(self) -> Any:
        """A streamed generation read to its end."""
        stream = self.generator.generate(PROMPT, stream=True, decode=False)
        list(stream)
        return stream

    def busy_port(self) -> int:
        """A port of 127.0.0.1 that something already listens on (for as long as this context lives)."""
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        return self.listener.getsockname()[1]

    def curve_run(self) -> Path:
        """A run folder with a tokenizer/ and one snapshot, as far as they are looked at before the work."""
        run = self.tmp / "run"
        (run / "tokenizer").mkdir(parents=True, exist_ok=True)
        (run / "snapshots" / "step1").mkdir(parents=True, exist_ok=True)
        (run / "snapshots" / "step1" / "snapshot.json").write_text('{"step": 1}')
        return run

    def curve(self, *args: str) -> Cli:
        return argcli(learning_curve_cli, "--run", str(self.curve_run()), "--clips", "1", *args)

    def folder(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir()
        return path

    def clips(self, n: int) -> Path:
        """A folder of ``n`` readable 9-frame 32x32 mp4 clips, each with a caption file."""
        root = self.tmp / "clips"
        rng = np.random.default_rng(0)
        for i in range(n):
            write_video(root / f"clip{i}.mp4", rng.integers(0, 255, (9, 32, 32, 3), dtype=np.uint8))
            (root / f"clip{i}.txt").write_text(PROMPT)
        return root

    def folder_run(self, train: Any, *args: str) -> Cli:
        """A one-step tokenizer training on the folder ``clips(3)``, as a new user's first run."""
        root = self.clips(3)
        return train(f"data=folder", f"data.root={root}", "data.num_workers=0", "frames=9", "size=32",
                     "trainer.max_steps=1", *args)

    def full_disk_manifest(self) -> Cli:
        """Generation into a folder whose samples.jsonl is /dev/full: every write to it fails with ENOSPC."""
        out = self.tmp / "out"
        out.mkdir()
        (out / "samples.jsonl").symlink_to("/dev/full")
        return self.gen()

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
    ("cli unknown compile mode", lambda c: c.gen("compile=fast"), CLI,
     "error: compile='fast': choose one of default, reduce-overhead, max-autotune"),
    ("cli evaluate unknown compile mode", lambda c: c.evaluate("compile=yes"), CLI,
     "error: compile='yes': choose one of default, reduce-overhead, max-autotune"),
    ("cli corrupt video", lambda c: c.gen(f"video={c.file('clip.mp4', b'not a video' * 50)}"), CLI,
     "error: cannot read video {tmp}/clip.mp4: not a readable video"),
    ("cli unwritable output folder", lambda c: c.gen(f"out_dir={c.file('f', '')}/sub"), CLI,
     "error: cannot write the run folder: [Errno 20] Not a directory"),
    ("cli corrupt safetensors", lambda c: c.gen(f"model={c.model_copy(truncate, 'tokenizer/model.safetensors')}"), CLI,
     "error: {tmp}/model/tokenizer/model.safetensors is not a readable safetensors file"),
    ("cli NaN guidance", lambda c: c.gen("cfg_scale=nan"), CLI, "error: cfg_scale=nan: must be a finite number"),
    ("cli infinite guidance", lambda c: c.gen("cfg_scale=inf"), CLI, "error: cfg_scale=inf: must be a finite number"),
    ("cli zero first window", lambda c: c.gen("first_window=0"), CLI, "error: first_window=0: must be >= 1"),
    ("cli NaN later guidance", lambda c: c.gen("later_cfg_scale=nan"), CLI,
     "error: later_cfg_scale=nan: must be a finite number"),
    ("cli negative later guidance", lambda c: c.gen("later_cfg_scale=-2"), CLI,
     "error: later_cfg_scale=-2: must be >= 0 (null: cfg_scale throughout; model: the model's own)"),
    ("cli NaN temperature", lambda c: c.gen("temperature=nan"), CLI, "error: temperature=nan: must be a finite number"),
    ("cli negative guidance", lambda c: c.gen("cfg_scale=-1"), CLI, "error: cfg_scale=-1: must be >= 0 (1: no guidance; model: the model's own)"),
    ("cli top_p above one", lambda c: c.gen("top_p=1.5"), CLI, "error: top_p=1.5: must be <= 1"),
    ("cli top_p zero", lambda c: c.gen("top_p=0"), CLI, "error: top_p=0: must be > 0"),
    ("cli guidance null", lambda c: c.gen("cfg_scale=null"), CLI,
     "error: cfg_scale=None: null is not allowed here: write cfg_scale=model for the model's own"),
    ("null guidance in Python", lambda c: c.generator.generate(PROMPT, cfg_scale=None, decode=False), ValueError,
     "cfg_scale=None: give a number (1 = no guidance), or leave it out for the model's own"),
    ("unknown compile mode in Python", lambda c: VideoGenerator.from_pretrained(compile="fast"), ValueError,
     "compile='fast': expected one of (None, 'default', 'reduce-overhead', 'max-autotune')"),
    ("generation.json with unknown key", lambda c: VideoGenerator.from_pretrained(
        c.model_copy(lambda f: f.write_text('{"temprature": 0.5}'), "gpt/generation.json")), ValueError,
     "{tmp}/model/gpt/generation.json: unknown key(s) ['temprature']"),
    ("cli fractional frames", lambda c: c.gen("frames=2.5"), CLI, "error: frames=2.5: expected an integer or null"),
    ("cli negative seed", lambda c: c.gen("seed=-1"), CLI, "error: seed=-1: must be >= 0"),
    ("cli unknown schedule", lambda c: c.gen("schedule=fast"), CLI, "error: schedule='fast': choose one of raster, diagonal"),
    ("cli window zero", lambda c: c.gen("window=0"), CLI, "error: window=0: must be >= 1"),
    ("cli frame_window zero", lambda c: c.gen("frame_window=0"), CLI, "error: frame_window=0: must be >= 1"),
    ("cli the folded frame_overlap", lambda c: c.gen("frame_overlap=false"), CLI,
     "error: frame_overlap is gone: frame_window says it"),
    ("cli the folded diagonal_frame_overlap", lambda c: c.gpt("recipe.diagonal_frame_overlap=true"), CLI,
     "error: recipe.diagonal_frame_overlap is gone: recipe.diagonal_frame_window says it"),
    ("cli change between latent frames", lambda c: c.gen("changes=[{frame: 3, prompt: b}]"), CLI,
     "error: changes[0].frame=3: does not start a latent frame; use one of [1, 5]"),
    ("cli change past the video's end", lambda c: c.gen("changes=[{frame: 13, prompt: b}]"), CLI,
     "error: changes[0].frame=13: past the video's end (frames=9, pixel frames 0..8); a change starts at one of [1, 5]"),
    ("cli change past a shorter video", lambda c: c.gen("frames=5", "changes=[{frame: 5, prompt: b}]"), CLI,
     "error: changes[0].frame=5: past the video's end (frames=5"),
    ("cli change at frame zero", lambda c: c.gen("changes=[{frame: 0, prompt: b}]"), CLI,
     "error: changes[0].frame=0: must be >= 1"),
    ("cli change at a negative frame", lambda c: c.gen("changes=[{frame: -4, prompt: b}]"), CLI,
     "error: changes[0].frame=-4: must be >= 1"),
    ("cli change at a frame given as text", lambda c: c.gen("changes=[{frame: nine, prompt: b}]"), CLI,
     "error: changes[0].frame='nine': expected an integer"),
    ("cli changes not a list", lambda c: c.gen("changes=5"), CLI, "error: changes=5: expected a list"),
    ("cli change that is not a mapping", lambda c: c.gen("changes=[[5, b]]"), CLI,
     "error: changes[0]=[5, 'b']: expected {frame: ..., prompt: ...}"),
    ("cli change with a null prompt", lambda c: c.gen("changes=[{frame: 5, prompt: null}]"), CLI,
     "error: changes[0].prompt=None: expected a text value"),
    ("cli over-long change prompt", lambda c: c.gen("changes=[{frame: 5, prompt: " + "x" * 400 + "}]"), CLI,
     "error: changes[0].prompt='xxxxxxxxxxxxxxxxxxxx'...: a prompt of 400 characters (limit max_prompt_chars=300)"),
    ("cli change without a prompt", lambda c: c.gen("changes=[{frame: 5}]"), CLI,
     "error: changes[0]={'frame': 5}: expected the keys frame, prompt"),
    ("cli change to a blank prompt", lambda c: c.gen("changes=[{frame: 5, prompt: ' '}]"), CLI,
     "error: changes[0].prompt=' ': is empty"),
    ("cli two changes at one frame", lambda c: c.gen("changes=[{frame: 5, prompt: a},{frame: 5, prompt: b}]"), CLI,
     "error: changes: two changes at one frame ([5, 5])"),
    ("change at a given frame", lambda c: c.generator.generate(PROMPT, video=np.zeros((5, 32, 32, 3), np.uint8),
                                                              changes={1: "b"}, decode=False), ValueError,
     "changes: frame 1 is a given frame (the first 5 are given)"),
    ("cli no formats", lambda c: c.gen("formats=[]"), CLI, "error: formats=[]: needs at least 1 item(s)"),
    ("cli unknown format", lambda c: c.gen("formats=[avi]"), CLI,
     "error: formats[0]='avi': choose one of mp4, gif, png, webm"),
    ("cli formats not a list", lambda c: c.gen("formats=gif"), CLI, "error: formats='gif': expected a list"),
    ("cli CUDA on a machine without", lambda c: c.gen("device=cuda"), CLI,
     "error: device='cuda': this machine has no CUDA device (use cpu)"),
    ("cli unknown device", lambda c: c.gen("device=tpu9"), CLI, "error: device='tpu9': not a device"),
    ("cli empty prompt", lambda c: c.gen("prompt=''"), CLI, "error: prompt='': empty (write what the video shows"),
    ("cli whitespace prompt", lambda c: c.gen("prompt='   '"), CLI, "error: prompt='   ': empty"),
    ("cli over-long prompt", lambda c: c.gen("prompt=" + "x" * 400), CLI,
     "error: prompt='xxxxxxxxxxxxxxxxxxxx'...: a prompt of 400 characters (limit max_prompt_chars=300)"),
    ("cli seed beyond 32 bits", lambda c: c.gen("seed=99999999999999999999"), CLI,
     "error: seed=99999999999999999999: must be <= 4294967295"),
    ("cli a format twice", lambda c: c.gen("formats=[gif,gif]"), CLI, "error: formats=['gif', 'gif']: names gif twice"),
    ("cli model= names its gpt folder", lambda c: c.gen(f"model={c.model / 'gpt'}"), CLI,
     "/gpt: not a model folder, no gpt/ or tokenizer/ in it (vidgpt-train writes gpt/ + tokenizer/) (it is one of a model "
     "folder's parts: name the folder above it)"),
    ("cli unknown command-line flag", lambda c: c.gen("--foo"), CLI, "error: unrecognized arguments: --foo"),
    ("cli the folded frame_overlap added with +", lambda c: c.gen("+frame_overlap=false"), CLI,
     "error: frame_overlap is gone: frame_window says it"),
    ("cli non-ASCII prompt unquoted", lambda c: c.gen("prompt=دائرة حمراء"), CLI,
     """error: cannot parse 'prompt=دائرة حمراء': a value with letters beyond ASCII needs quotes, write 'prompt="دائرة حمراء"'"""),
    ("cli emoji prompt unquoted", lambda c: c.gen("prompt=🔴"), CLI, "needs quotes, write 'prompt=\"🔴\"'"),
    ("cli umlaut path unquoted", lambda c: c.tok("data=folder", "data.root=/tmp/Müller"), CLI,
     """write 'data.root="/tmp/Müller"'"""),
    ("cli image and video", lambda c: c.gen("image=a.png", "video=b.mp4"), CLI,
     "error: image= and video= both given"),
    ("cli given_frames zero", lambda c: c.gen("given_frames=0"), CLI, "error: given_frames=0: must be >= 1"),
    ("cli full disk while writing", lambda c: c.full_disk_manifest(), CLI,
     "error: cannot write {tmp}/out/samples.jsonl: No space left on device"),
    ("cli output folder is a file", lambda c: c.gen(f"out_dir={c.file('f', '')}"), CLI,
     "error: cannot write the run folder"),
    ("cli evaluate no videos per split", lambda c: c.evaluate("per_split=0"), CLI, "error: per_split=0: must be >= 1"),
    ("cli evaluate unknown split", lambda c: c.evaluate("splits=[test]"), CLI, "error: splits[0]='test': choose one of"),
    ("cli evaluate unknown schedule", lambda c: c.evaluate("schedules=[fast]"), CLI,
     "error: schedules[0]='fast': choose one of model, raster, diagonal"),
    ("cli evaluate NaN temperature", lambda c: c.evaluate("temperature=nan"), CLI,
     "error: temperature=nan: must be a finite number"),
    ("cli evaluate negative tokenizer clips", lambda c: c.evaluate("tokenizer_clips=-1"), CLI,
     "error: tokenizer_clips=-1: must be >= 0"),
    ("cli pretokenize unknown split", lambda c: c.pretok("split=test"), CLI, "error: split='test': choose one of train, val"),
    ("cli pretokenize shard size zero", lambda c: c.pretok("shard_size=0"), CLI, "error: shard_size=0: must be >= 1"),
    ("cli pretokenize CUDA without", lambda c: c.pretok("device=cuda:0"), CLI,
     "error: device='cuda:0': this machine has no CUDA device"),
    ("cli pretokenize rank not a number", lambda c: c.pretok("rank=abc"), CLI, "error: rank='abc': expected an integer"),
    ("cli pretokenize rank beyond the ranks", lambda c: c.pretok("rank=2", "num_ranks=2"), CLI,
     "error: rank=2: must be < num_ranks=2"),
    ("cli pretokenize size off the grid", lambda c: c.pretok("size=36"), CLI,
     "error: size=36: must be a multiple of the tokenizer's spatial_factor 8 (e.g. 32)"),
    ("cli evaluate missing i3d file", lambda c: c.evaluate(f"i3d={c.tmp / 'i3d.pt'}"), CLI,
     "error: i3d={tmp}/i3d.pt: no such file"),
    ("cli evaluate i3d without Fréchet scores", lambda c: c.evaluate(f"i3d={c.file('i3d.pt', '')}", "frechet=false"), CLI,
     "error: i3d={tmp}/i3d.pt: real FVD is part of the Fréchet scores of generated videos (frechet=true, no folder=)"),
    ("cli evaluate manifest without a folder", lambda c: c.evaluate(f"manifest={c.file('m.jsonl', '')}"), CLI,
     "error: manifest={tmp}/m.jsonl: lists the videos of folder=, which is not given"),
    ("cli studio port in use", lambda c: c.studio(f"port={c.busy_port()}"), CLI,
     ", in use (another studio?): pick another port"),
    ("cli studio host of another machine", lambda c: c.studio("host=192.0.2.1"), CLI,
     "error: host='192.0.2.1': not an address of this machine"),
    ("cli studio empty out_dir", lambda c: c.studio("out_dir=''"), CLI, "error: out_dir='': is empty"),
    ("cli studio port zero", lambda c: c.studio("port=0"), CLI, "error: port=0: must be >= 1"),
    ("cli studio model is not a model folder", lambda c: c.studio(f"model={c.folder('empty')}"), CLI,
     "error: model={tmp}/empty: not a model folder, no gpt/ or tokenizer/ in it"),
    # ---- the argparse commands: the same one line and status 2
    ("cli vidtok-evaluate without --tokenizer", lambda c: argcli(evaluate_tokenizer_cli), CLI,
     "error: the following arguments are required: --tokenizer (see vidtok-evaluate --help)"),
    ("cli vidtok-evaluate no clips", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer", "x", "--clips", "0"), CLI,
     "error: --clips=0: must be >= 1"),
    ("cli vidtok-evaluate clips not a number", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer", "x", "--clips",
                                                                "many"), CLI,
     "error: argument --clips: invalid int value: 'many' (see vidtok-evaluate --help)"),
    ("cli vidtok-evaluate unknown split", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer", "x", "--splits", "test"),
     CLI, "error: --splits[0]='test': choose one of train, val"),
    ("cli vidtok-evaluate no splits", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer", "x", "--splits"), CLI,
     "error: --splits=[]: needs at least 1 item(s)"),
    ("cli vidtok-evaluate a model folder as tokenizer", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer",
                                                                         str(c.model)), CLI,
     "not a tokenizer folder (no config.json) (a model folder: --tokenizer "),
    ("cli vidtok-evaluate lavfi size off the grid", lambda c: argcli(
        evaluate_tokenizer_cli, "--tokenizer", str(c.model / "tokenizer"), "--lavfi", "--size", "36"), CLI,
     "error: --size=36: must be a multiple of the tokenizer's spatial_factor 8"),
    ("cli vidtok-evaluate unknown flag", lambda c: argcli(evaluate_tokenizer_cli, "--tokenizer", "x", "--fast"), CLI,
     "error: unrecognized arguments: --fast (see vidtok-evaluate --help)"),
    ("cli learning curve NaN guidance", lambda c: c.curve("--cfg-scale", "nan"), CLI,
     "error: --cfg-scale=nan: must be a finite number"),
    ("cli learning curve no points", lambda c: c.curve("--max-points", "0"), CLI, "error: --max-points=0: must be >= 1"),
    ("cli learning curve negative threads", lambda c: c.curve("--threads", "-1"), CLI,
     "error: --threads=-1: must be >= 0"),
    ("cli learning curve unknown split", lambda c: c.curve("--splits", "test"), CLI,
     "error: --splits[0]='test': choose one of"),
    ("cli learning curve output is a file", lambda c: c.curve("--out", str(c.file("f", ""))), CLI,
     "error: output folder {tmp}/f is not writable"),
    ("cli learning curve run without snapshots", lambda c: argcli(learning_curve_cli, "--run", str(c.model)), CLI,
     "/snapshots holds no snapshots (train with snapshots=true)"),
    ("cli replace-decoder unknown padding", lambda c: argcli(replace_decoder_cli, "--model", "m", "--tokenizer", "t",
                                                             "--decoder-padding", "reflect"), CLI,
     "error: argument --decoder-padding: invalid choice: 'reflect'"),
    ("cli replace-decoder missing model", lambda c: argcli(replace_decoder_cli, "--model", str(c.tmp / "m"),
                                                           "--tokenizer", str(c.model / "tokenizer")), CLI,
     "error: {tmp}/m/gpt/vidgpt.json not found: --model takes a model folder"),
    ("cli natural data: missing picture folder", lambda c: c.tok(
        "data=natural", f"data.train.datasets.0.folders=[{c.tmp / 'pictures'}]"), CLI,
     "error: data.train.datasets.0: image folder not found: {tmp}/pictures"),
    ("cli natural data: clip length not a number", lambda c: c.tok("data=natural", "data.train_frames=abc"), CLI,
     "error: data.train.datasets.0: frames='abc': expected an integer >= 1"),
    ("cli natural data: unknown split", lambda c: c.tok("data=natural", "data.val.split=bogus"), CLI,
     "error: data.val: split='bogus': expected one of ('train', 'test', 'all')"),
    ("cli max_steps not a number", lambda c: c.tok("trainer.max_steps=abc"), CLI,
     "error: trainer.max_steps='abc': expected an integer"),
    ("cli max_steps negative", lambda c: c.tok("trainer.max_steps=-5"), CLI,
     "error: trainer.max_steps=-5: must be >= 1, or -1 for no limit"),
    ("cli max_time not a duration", lambda c: c.gpt("trainer.max_time=1h"), CLI,
     "error: trainer.max_time='1h': expected \"DD:HH:MM:SS\""),
    ("cli GPU trainer without CUDA", lambda c: c.tok("trainer=gpu"), CLI,
     "error: trainer.accelerator='gpu': this machine has no CUDA device (use trainer=cpu)"),
    ("cli NaN learning rate", lambda c: c.tok("recipe.lr=nan"), CLI, "error: recipe.lr=nan: must be a finite number"),
    ("cli negative learning rate", lambda c: c.gpt("recipe.lr=-0.1"), CLI, "error: recipe.lr=-0.1: must be >= 0"),
    ("cli infinite loss weight", lambda c: c.tok("recipe.l1_weight=inf"), CLI,
     "error: recipe.l1_weight=inf: must be a finite number"),
    ("cli batch size zero in training", lambda c: c.gpt("data.batch_size=0"), CLI,
     "error: data.batch_size=0: must be >= 1"),
    ("cli negative workers", lambda c: c.tok("data.num_workers=-1"), CLI, "error: data.num_workers=-1: must be >= 0"),
    ("cli unknown decoder padding", lambda c: c.tok("decoder_padding=reflect"), CLI,
     "error: decoder_padding='reflect': choose one of zeros, circular"),
    ("cli code noise above one", lambda c: c.tok("recipe.code_noise=1.5"), CLI,
     "error: recipe.code_noise=1.5: must be <= 1"),
    ("cli context noise above one", lambda c: c.gpt("recipe.context_noise=2"), CLI,
     "error: recipe.context_noise=2: must be <= 1"),
    ("cli export interval zero", lambda c: c.gpt("export_every_n_steps=0"), CLI,
     "error: export_every_n_steps=0: must be >= 1"),
    ("cli validation interval zero", lambda c: c.gpt("trainer.val_check_interval=0"), CLI,
     "error: trainer.val_check_interval=0: must be > 0"),
    ("cli tokenizer: fewer clips than a batch", lambda c: c.folder_run(c.tok, "data.batch_size=16"), CLI,
     "error: the training set has 3 usable clip(s), fewer than data.batch_size=16: no full batch"),
    ("cli GPT: fewer clips than a batch", lambda c: c.folder_run(c.gpt, "data.batch_size=4", "gpt=tiny"), CLI,
     "error: the training set has 3 usable clip(s), fewer than data.batch_size=4"),
    ("cli betas out of range", lambda c: c.tok("recipe.betas=[2,3]"), CLI, "error: recipe.betas[0]=2: must be < 1"),
    ("cli betas of one number", lambda c: c.gpt("recipe.betas=[0.9]"), CLI,
     "error: recipe.betas=[0.9]: needs exactly 2 item(s)"),
    ("cli final LR ratio above one", lambda c: c.tok("recipe.min_lr_ratio=2"), CLI,
     "error: recipe.min_lr_ratio=2: must be <= 1"),
    ("cli negative saliency", lambda c: c.tok("recipe.saliency=-1"), CLI, "error: recipe.saliency=-1: must be >= 0"),
    ("cli loss weight not a number", lambda c: c.tok("recipe.l2_weight=abc"), CLI,
     "error: recipe.l2_weight='abc': expected a number"),
    ("cli crop share above one", lambda c: c.tok("recipe.crop_uniform=2"), CLI,
     "error: recipe.crop_uniform=2: must be <= 1"),
    ("cli freeze_encoder not a flag", lambda c: c.tok("recipe.freeze_encoder=maybe"), CLI,
     "error: recipe.freeze_encoder='maybe': expected true or false"),
    ("cli fused not a flag", lambda c: c.gpt("recipe.fused=abc"), CLI,
     "error: recipe.fused='abc': expected true or false or null"),
    ("cli LR schedule of zero steps", lambda c: c.gpt("recipe.total_steps=0"), CLI,
     "error: recipe.total_steps=0: must be >= 1"),
    ("cli training diagonal window zero", lambda c: c.gpt("recipe.diagonal_window=0"), CLI,
     "error: recipe.diagonal_window=0: must be >= 1"),
    ("cli zero devices", lambda c: c.tok("trainer.devices=0"), CLI,
     "error: trainer.devices=0: expected a device count >= 1 (-1: all), auto, or a list of indices"),
    ("cli training seed beyond 32 bits", lambda c: c.tok("seed=99999999999"), CLI,
     "error: seed=99999999999: must be <= 4294967295"),
    ("cli tokenizer size off the grid", lambda c: c.tok("size=36"), CLI,
     "error: size=36: must be a multiple of the tokenizer's spatial_factor 8"),
    ("cli GPT size off the grid", lambda c: c.gpt("size=36"), CLI,
     "error: size=36: must be a multiple of the tokenizer's spatial_factor 8"),
    ("cli no training set", lambda c: c.tok("data.train=null"), CLI, "error: data.train=null: training needs a dataset"),
    ("cli resume a file that is not a checkpoint", lambda c: c.tok(f"resume={c.file('x.ckpt', 'junk')}"), CLI,
     "error: resume={tmp}/x.ckpt: {tmp}/x.ckpt is not a readable checkpoint"),
    ("cli init_from a folder that is not a model", lambda c: c.gpt(f"init_from={c.folder('empty')}"), CLI,
     "error: init_from={tmp}/empty: not a model folder (no gpt/vidgpt.json"),
    ("cli blank objective", lambda c: c.tok("objective=''"), CLI, "error: objective='': is empty"),
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
     ValueError, "image=<ndarray (32, 32, 4) uint8>: expected a uint8 array or tensor shaped (H, W, 3) or (B, H, W, 3)"),
    ("size not divisible", lambda c: c.generator.tokenizer.encode(video(size=30)), ValueError,
     "height 30 and width 30 must be positive multiples of spatial_factor 8"),
    ("pixel values to encode", lambda c: c.generator.tokenizer.encode(video() + 200), ValueError,
     "expected a float video in [-1, 1], got values in [200, 200] (uint8 pixels: vidtok.data.convert.to_tensor)"),
    ("NaN video to encode", lambda c: c.generator.tokenizer.encode(video() * float("nan")), ValueError,
     "expected a float video in [-1, 1], got NaN or infinite values"),
    ("fractional frames to decode", lambda c: c.generator.tokenizer.decode(torch.zeros(1, 2, 4, 4, dtype=torch.long),
                                                                            frames=2.5), ValueError,
     "frames=2.5: expected an integer (or None: 5)"),
    ("tokenizer from a model folder", lambda c: VideoTokenizer.from_pretrained(c.model), FileNotFoundError,
     "/model.safetensors (a model folder: its tokenizer is "),
    ("tokenizer from None", lambda c: VideoTokenizer.from_pretrained(None), TypeError,
     "directory=None: expected a tokenizer folder (str or Path) or a shipped name"),
    ("learning curve of no points", lambda c: learning_curve_cli.learning_curve(c.curve_run(), 1, max_points=0),
     ValueError, "max_points=0: must be >= 1 (or None: every snapshot)"),
    ("negative frames", lambda c: c.generator.generate(PROMPT, frames=-1, decode=False), ValueError,
     "frames=-1: must be an integer >= 1"),
    ("NaN guidance in Python", lambda c: c.generator.generate(PROMPT, cfg_scale=float("nan"), decode=False), ValueError,
     "cfg_scale=nan: must be a finite number"),
    ("infinite temperature in Python", lambda c: c.generator.generate(PROMPT, temperature=float("inf"), decode=False),
     ValueError, "temperature=inf: must be a finite number"),
    ("fractional top_k in Python", lambda c: c.generator.generate(PROMPT, top_k=2.5, decode=False), ValueError,
     "top_k=2.5: must be an integer >= 1 or None"),
    ("a prompt that is not text", lambda c: c.generator.generate([PROMPT, 3], decode=False), ValueError,
     "prompts=['a small red circle moves up quickly', 3]: expected a string or a non-empty list of strings "
     "(prompts[1] is int)"),
    ("no prompt in Python", lambda c: c.generator.generate(None, decode=False), ValueError,
     "prompts=None: expected a string or a non-empty list of strings; got NoneType"),
    ("an empty list of prompts", lambda c: c.generator.generate([], decode=False), ValueError,
     "prompts=[]: expected a string or a non-empty list of strings; got none"),
    ("a set of prompts", lambda c: c.generator.generate({PROMPT}, decode=False), ValueError,
     "expected a string or a non-empty list of strings; got set"),
    ("fractional frames in Python", lambda c: c.generator.generate(PROMPT, frames=2.5, decode=False), ValueError,
     "frames=2.5: must be an integer >= 1 or None (None: the trained length, 9)"),
    ("frames as a flag in Python", lambda c: c.generator.generate(PROMPT, frames=True, decode=False), ValueError,
     "frames=True: must be an integer >= 1"),
    ("frames as text in Python", lambda c: c.generator.generate(PROMPT, frames="abc", decode=False), ValueError,
     "frames='abc': must be an integer >= 1"),
    ("NaN frames in Python", lambda c: c.generator.generate(PROMPT, frames=float("nan"), decode=False), ValueError,
     "frames=nan: must be an integer >= 1"),
    ("fractional seed in Python", lambda c: c.generator.generate(PROMPT, seed=1.5, decode=False), ValueError,
     "seed=1.5: must be an integer in [0, 4294967295] or None (None: a random video)"),
    ("seed as text in Python", lambda c: c.generator.generate(PROMPT, seed="x", decode=False), ValueError,
     "seed='x': must be an integer in [0, 4294967295]"),
    ("seed beyond 32 bits in Python", lambda c: c.generator.generate(PROMPT, seed=2**32, decode=False), ValueError,
     "seed=4294967296: must be an integer in [0, 4294967295]"),
    ("negative seed in Python", lambda c: c.generator.generate(PROMPT, seed=-1, decode=False), ValueError,
     "seed=-1: must be an integer in [0, 4294967295]"),
    ("threads as text in Python", lambda c: c.generator.generate(PROMPT, threads="x", decode=False), ValueError,
     "threads='x': must be an integer >= 1 or None (None: automatic)"),
    ("no threads in Python", lambda c: c.generator.generate(PROMPT, threads=0, decode=False), ValueError,
     "threads=0: must be an integer >= 1 or None"),
    ("stream not a flag", lambda c: c.generator.generate(PROMPT, stream="yes", decode=False), ValueError,
     "stream='yes': expected True or False"),
    ("decode not a flag", lambda c: c.generator.generate(PROMPT, decode=None), ValueError,
     "decode=None: expected True or False"),
    ("schedule not text in Python", lambda c: c.generator.generate(PROMPT, schedule=3, decode=False), ValueError,
     "schedule=3: choose one of raster, diagonal"),
    ("fractional window in Python", lambda c: c.generator.generate(PROMPT, window=1.5, decode=False), ValueError,
     "window=1.5: must be an integer >= 1"),
    ("frame_window as a flag in Python", lambda c: c.generator.generate(PROMPT, frame_window=True, decode=False),
     ValueError, "frame_window=True: must be an integer >= 1 or None"),
    ("temperature as text in Python", lambda c: c.generator.generate(PROMPT, temperature="hot", decode=False),
     ValueError, "temperature='hot': must be a finite number"),
    ("changes as a list in Python", lambda c: c.generator.generate(PROMPT, changes=[5, "b"], decode=False),
     ValueError, "changes=[5, 'b']: expected a mapping {pixel frame: prompt}, e.g. {5: 'a red circle'}, or None"),
    ("changes as text in Python", lambda c: c.generator.generate(PROMPT, changes="b", decode=False), ValueError,
     "changes='b': expected a mapping {pixel frame: prompt}"),
    ("a change to a prompt that is not text", lambda c: c.generator.generate(PROMPT, changes={5: 3}, decode=False),
     ValueError, "changes[5]=3: a prompt change needs one prompt, or 1 (one per video), as text; got int"),
    ("a change past the video's end in Python", lambda c: c.generator.generate(PROMPT, changes={13: "b"}, decode=False),
     ValueError, "changes: frame 13 does not start a latent frame; use one of [1, 5] (the video's pixel frames are 0..8)"),
    ("a streamed change to a prompt that is not text",
     lambda c: c.generator.generate(PROMPT, stream=True, decode=False).change_prompt(3), ValueError,
     "prompt=3: a prompt change needs one prompt, or 1 (one per video), as text; got int"),
    ("a streamed change to a prompt per video, miscounted",
     lambda c: c.generator.generate([PROMPT, PROMPT], stream=True, decode=False).change_prompt(["a", "b", "c"]),
     ValueError, "prompt=['a', 'b', 'c']: a prompt change needs one prompt, or 2 (one per video), as text; got 3"),
    ("a streamed change after the end", lambda c: c.ended_stream().change_prompt("b"), RuntimeError,
     "change_prompt: the generation has ended"),
    ("a first frame given as a path", lambda c: c.generator.generate(PROMPT, image="first.png", decode=False),
     ValueError, "image='first.png': expected a uint8 array or tensor shaped (H, W, 3) or (B, H, W, 3), RGB; read a "
     "file with vidgpt.samples.load_first_frames(path, size)"),
    ("first frames given as a path", lambda c: c.generator.generate(PROMPT, video=Path("clip.mp4"), decode=False),
     ValueError, "video=PosixPath('clip.mp4'): expected a uint8 array or tensor shaped (N, H, W, 3) or (B, N, H, W, 3), "
     "RGB; read a file with vidgpt.samples.load_first_frames(path, size, frames=N)"),
    ("a float first frame", lambda c: c.generator.generate(PROMPT, image=np.zeros((32, 32, 3)), decode=False),
     ValueError, "image=<ndarray (32, 32, 3) float64>: expected a uint8 array or tensor shaped (H, W, 3)"),
    ("a video of no frames", lambda c: c.generator.generate(PROMPT, video=np.zeros((0, 32, 32, 3), np.uint8),
                                                            decode=False), ValueError,
     "video=<ndarray (0, 32, 32, 3) uint8>: holds no frames"),
    ("unknown device in Python", lambda c: VideoGenerator.from_pretrained(c.model, device="x"), ValueError,
     "device='x': not a device (cpu, cuda, cuda:N or mps)"),
    ("CUDA in Python on a machine without", lambda c: VideoGenerator.from_pretrained(c.model, device="cuda:0"),
     ValueError, "device='cuda:0': this machine has no CUDA device (use cpu)"),
    ("a tokenizer that is no tokenizer", lambda c: VideoGenerator.from_pretrained(c.model / "gpt", tokenizer=3),
     TypeError, "tokenizer=3: expected a tokenizer (a VideoTokenizer), its folder (str or Path) or a shipped "
     "tokenizer's name, or None"),
    ("a tokenizer folder that does not exist", lambda c: VideoGenerator.from_pretrained(
        c.model / "gpt", tokenizer=str(c.tmp / "tok")), FileNotFoundError, "{tmp}/tok"),
    ("a model path that is no path", lambda c: VideoGenerator.from_pretrained(3), TypeError,
     "path=3: expected a model folder (str or Path), or None for the shipped model"),
    ("no formats in Python", lambda c: generate_samples(c.generator, [PROMPT], c.tmp / "o", SampleOptions(), formats=[]),
     ValueError, "formats=[]: choose one or more of"),
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
        made = [p for pattern in PRODUCTS for p in tmp_path.rglob(pattern)
                if p.is_file() and not p.is_symlink() and len(p.relative_to(tmp_path).parts) > 1
                and p.relative_to(tmp_path).parts[0] not in INPUTS]
        assert not made, f"written before the error: {made}"
    elif expected == WARN:
        with pytest.warns(UserWarning, match=re.escape(text)):
            call(ctx)
    else:
        with pytest.raises(expected, match=re.escape(text)) as info:
            call(ctx)
        assert "\n" not in str(info.value)


def test_catalogue_covers_the_required_kinds():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    commands = {"c.gen(", "c.tok(", "c.gpt(", "c.evaluate(", "c.pretok(", "c.studio(", "c.curve(",
                "argcli(evaluate_tokenizer_cli", "argcli(replace_decoder_cli", "argcli(learning_curve_cli"}
    import inspect
    sources = " ".join(inspect.getsource(c[1]) for c in CASES)
    assert all(name in sources for name in commands)


def test_console_command_prints_one_line_and_exits_2(tmp_path):
    """The real console process: Hydra's own multi-line report is replaced by one line, and the status is 2."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, "-m", "vidgpt.cli.generate", "no_such=1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert messages(proc.stderr) == ["error: Could not override 'no_such'. To append to your config use +no_such=1 "
                                     "(Key 'no_such' is not in struct)"]


def test_a_bad_file_in_a_dataset_is_a_named_counted_skip(generator, tiny_model_dir, tmp_path, caplog):
    """A dangling or self-looping symlink, a caption file or a manifest line that is not UTF-8: each skips one
    video, named once in the log and counted by reason, and the run goes on with the rest."""
    ctx = Ctx(tiny_model_dir, tmp_path, generator)
    root = ctx.clips(3)
    (root / "gone.mp4").symlink_to(root / "nowhere.mp4")
    (root / "loop.mp4").symlink_to(root / "loop.mp4")
    (root / "clip2.txt").write_bytes(LATIN1)
    import logging

    with caplog.at_level(logging.WARNING, logger="vidtok.data.folder"):
        ds = FolderDataset(root, frames=9, size=32)
        [ds[i] for i in range(len(ds))]
    s = ds.summary()
    assert s["usable"] == 2 and len(ds) == 2
    assert s["reasons"] == {"missing": 1, "unreadable": 1, "bad caption": 1}
    assert "caption file" in s["skipped_files"][str(root / "clip2.mp4")]
    assert "not UTF-8" in s["skipped_files"][str(root / "clip2.mp4")]
    for name in ("gone.mp4", "loop.mp4", "clip2.mp4"):
        assert sum(name in r.getMessage() for r in caplog.records if "skips" in r.getMessage()) == 1, name

    manifest = tmp_path / "clips.jsonl"
    lines = [json.dumps({"path": f"clips/clip{i}.mp4", "caption": PROMPT}).encode() for i in range(2)]
    manifest.write_bytes(b"\n".join([lines[0], b'{"path": "clips/clip1.mp4", "caption": "caf\xe9"}', lines[1],
                                     b"{broken"]) + b"\n")
    ds = FolderDataset(manifest, frames=9, size=32)
    s = ds.summary()
    assert s["usable"] == 2 and s["reasons"] == {"bad manifest line": 2}
    assert s["skipped_files"] == {f"{manifest}:2": "bad manifest line: not UTF-8 text",
                                  f"{manifest}:4": "bad manifest line: not valid JSON (Expecting property name "
                                                   "enclosed in double quotes)"}


def test_a_manifest_that_is_not_utf8_names_its_line(tmp_path):
    from vidtok.data.manifest import read_manifest

    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"path,caption\na.mp4,ok\nb.mp4,caf\xe9\n")
    with pytest.raises(ValueError, match=re.escape(f"{manifest}:3: not UTF-8 text")):
        read_manifest(manifest)


def test_a_run_that_trains_no_step_exports_nothing(tmp_path):
    """Fewer clips than a batch is refused before training; a run that ends at step 0 anyway (here
    max_steps=0) raises instead of exporting the weights it started from."""
    from vidtok.train.fit import train_tokenizer
    from vidtok.train.module import TrainConfig

    cfg = TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], codebook_size=64)
    data = ShapesDataset("train", length=2, frames=5, size=32)
    with pytest.raises(ValueError, match="fewer than data.batch_size=4"):
        train_tokenizer(cfg, data, out_dir=tmp_path, batch_size=4, train_cfg=TrainConfig(max_steps=1))
    with pytest.raises(ValueError, match="training ended after 0 steps"):
        train_tokenizer(cfg, data, out_dir=tmp_path, batch_size=2, train_cfg=TrainConfig(max_steps=0),
                        trainer_kwargs=dict(enable_model_summary=False, logger=False))
    assert not (tmp_path / "tokenizer").exists()


def test_failed_generation_leaves_no_manifest_and_records_given_frames(generator, tmp_path):
    with pytest.raises(ValueError):
        generate_samples(generator, [PROMPT], tmp_path / "a", SampleOptions(temperature=float("nan")))
    assert not (tmp_path / "a" / "samples.jsonl").exists()
    video = np.zeros((5, 32, 32, 3), np.uint8)
    [record] = generate_samples(generator, [PROMPT], tmp_path / "b", SampleOptions(extra={"given_frames": 5}),
                                formats=["gif"], video=video, progress=False)
    assert json.loads((tmp_path / "b" / "samples.jsonl").read_text())["given_frames"] == 5 == record["given_frames"]


def test_sample_files_of_other_scripts_are_told_apart():
    from vidgpt.samples import sample_stem

    arabic, hebrew = sample_stem(0, "دائرة حمراء", 0), sample_stem(1, "עיגול אדום", 0)
    assert arabic == "000_دائرة_حمراء_s0" and hebrew == "001_עיגול_אדום_s0"
    rocket, heart = sample_stem(2, "🚀", 0), sample_stem(2, "❤️", 0)
    assert rocket.startswith("002_prompt_") and rocket != heart
    assert sample_stem(3, "", 1) == "003_unconditional_s1"


def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    """SIGINT during the imports (before Hydra or torch are loaded): "interrupted", status 130, no traceback."""
    import signal
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-c", "from vidgpt.cli.console import generate; generate()"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert messages(err) == ["interrupted"]


def test_the_python_api_takes_numpy_integers_folders_and_flipped_pictures(generator, tiny_model_dir):
    """What the checks let through means what it did: numpy integers as ints, a tokenizer given by its folder,
    a first frame that is a flipped (negative-stride) view; a stream refuses a change once every frame is made."""
    codes = generator.generate(PROMPT, seed=3, decode=False).codes
    by_folder = VideoGenerator.from_pretrained(tiny_model_dir / "gpt", tokenizer=str(tiny_model_dir / "tokenizer"))
    assert torch.equal(codes, by_folder.generate(PROMPT, seed=np.int64(3), frames=np.int64(9), decode=False).codes)
    picture = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    assert torch.equal(generator.generate(PROMPT, image=picture[..., ::-1], seed=1, decode=False).codes,
                       generator.generate(PROMPT, image=picture[..., ::-1].copy(), seed=1, decode=False).codes)
    stream = generator.generate(PROMPT, stream=True, decode=False)
    assert [f.index for f in (next(stream), next(stream), next(stream))] == [0, 1, 2]
    with pytest.raises(RuntimeError, match=re.escape("the generation has ended (all 3 latent frames are made)")):
        stream.change_prompt("a large blue square moves left slowly")
    assert list(stream) == []
