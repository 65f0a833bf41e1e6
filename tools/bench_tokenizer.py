"""Tokenizer throughput: encode/decode frames/s at 64x64 and 128x128, training clips/s, and the peak
memory of coding a 257-frame video in chunks (CPU: maxrss growth of a fresh subprocess; GPU:
torch.cuda.max_memory_allocated).

Usage: `python -m tools.bench_tokenizer [--tokenizer DIR]` (default: an untrained default-config model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from vidtok.model import TokenizerConfig, VideoTokenizer

_PEAK_SCRIPT = r"""
import json, resource, sys, torch
from vidtok.model import TokenizerConfig, VideoTokenizer

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])  # KiB

torch.manual_seed(0)
m = VideoTokenizer(TokenizerConfig(**json.loads(sys.argv[1]))).eval()
x = torch.rand(1, 3, 257, 64, 64) * 2 - 1
chunk = int(sys.argv[2])
m.decode(m.encode(x[:, :, :5]), frames=5)  # warm-up outside the measurement
try:  # reset the peak RSS (VmHWM) so that the import's peak does not hide ours
    open("/proc/self/clear_refs", "w").write("5")
    before, key = status("VmRSS:"), "VmHWM:"
except OSError:
    before, key = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, None
codes = m.encode(x, chunk_latents=chunk)
out = m.decode(codes, frames=257, chunk_latents=chunk)
after = status(key) if key else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": (after - before) / 1024}))
"""


def _time(fn, repeats: int = 3) -> float:
    fn()  # warm-up: allocator and oneDNN kernel selection
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run(tokenizer: VideoTokenizer | None = None) -> list[dict]:
    """Rows: operation, size, frames/s (or clips/s), peak memory."""
    dev = _device()
    m = (tokenizer or VideoTokenizer(TokenizerConfig())).to(dev).eval()
    cfg = m.cfg
    rows: list[dict] = []
    for side in (64, 128):
        x = torch.rand(4, 3, 17, side, side, device=dev) * 2 - 1
        codes = m.encode(x)
        t_enc = _time(lambda: m.encode(x))
        t_dec = _time(lambda: m.decode(codes, frames=17))
        frames = x.shape[0] * x.shape[2]
        rows.append({"op": "encode", "size": f"{side}x{side}", "frames/s": frames / t_enc, "device": dev.type})
        rows.append({"op": "decode", "size": f"{side}x{side}", "frames/s": frames / t_dec, "device": dev.type})

    train = VideoTokenizer(cfg).to(dev).train()
    opt = torch.optim.AdamW(train.parameters(), 1e-4)
    x = torch.rand(16, 3, 17, 64, 64, device=dev) * 2 - 1

    def step() -> None:
        recon, _, aux, _ = train(x)
        loss = (recon - x).abs().mean() + aux
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = _time(step, repeats=2)
    rows.append({"op": "train step (B=16, 17 frames)", "size": "64x64", "frames/s": 16 * 17 / t, "clips/s": 16 / t, "device": dev.type})

    for chunk in (4, 16, 65):  # 65 latent frames = the whole video in one pass
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            v = torch.rand(1, 3, 257, 64, 64, device=dev) * 2 - 1
            base = torch.cuda.memory_allocated()
            m.decode(m.encode(v, chunk_latents=chunk), frames=257, chunk_latents=chunk)
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            out = subprocess.run(
                [sys.executable, "-c", _PEAK_SCRIPT, json.dumps(cfg.to_dict()), str(chunk)],
                capture_output=True, text=True, check=True,
            )
            peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
        rows.append({"op": f"encode+decode 257 frames, chunks of {chunk} latents" if chunk < 65 else "encode+decode 257 frames, one pass", "size": "64x64", "peak MiB": peak, "device": dev.type})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", help="a save_pretrained directory (default: untrained default config)")
    args = parser.parse_args()
    tok = VideoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else None
    from vidtok.eval.table import format_table

    print(format_table(run(tok)))
