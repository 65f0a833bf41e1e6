"""Stage-2 training throughput: tokens/s and model FLOP/s as a fraction of a big fp32 matmul's (MFU).

The model is the CPU `demo` preset on the Shapes layout (prompt 16 + BOV + 5x8x8 codes from 1000), trained
through `GPTModule.loss_and_accuracy` + clipping + the module's own AdamW, exactly as in training.

Model FLOPs per token = 6 * N + 12 * layers * seq * hidden (fwd + bwd; attention counted as full, not
causal), with N the parameters that take part in matmuls: all but the input embedding, and of the output
head only the codebook rows (the model never computes text logits).

Timing is CPU time of this process (`time.process_time`), for the matmul and the training step alike:
on a machine shared with other jobs, wall time measures the neighbours more than the code. The matmul is
measured before and after each variant and averaged. `tokens/s` (wall) is shown too.
"""

from __future__ import annotations

import time

import lightning as L
import torch
from torch.utils.data import DataLoader

from vidgpt.model import PromptVocab, VidGPT
from vidgpt.train.batches import GPTCollate
from vidgpt.train.module import GPTModule
from vidtok.shapes.world import split_combinations

GRID, CODEBOOK, PROMPT_LENGTH, PRESET = (5, 8, 8), 1000, 16, "demo"
MATMUL_N = 2048


def matmul_flops(n: int = MATMUL_N, reps: int = 3) -> float:
    """fp32 FLOP/s of an n x n matmul, per CPU second."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.process_time()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.process_time() - start)


def flops_per_token(model: VidGPT) -> float:
    c, bb = model.config, model.config.backbone
    n = sum(p.numel() for p in model.parameters())
    n -= model.llama.model.embed_tokens.weight.numel() + model.llama.lm_head.weight.numel()
    n += c.codebook_size * bb.hidden
    seq = c.prompt_length + c.num_codes  # the input length (the last code is only a target)
    return 6 * n + 12 * bb.layers * seq * bb.hidden


def _setup(batch: int, fused: bool, seed: int = 0) -> tuple[GPTModule, dict]:
    torch.manual_seed(seed)
    captions = [a.caption for a in split_combinations("train")]
    prompt = PromptVocab.fit(captions, vocab_size=512)
    model = VidGPT.build(prompt, GRID, CODEBOOK, prompt_length=PROMPT_LENGTH, preset=PRESET)
    module = GPTModule(model, fused=fused, total_steps=1000, warmup_steps=10)
    items = [{"codes": torch.randint(0, CODEBOOK, GRID), "caption": captions[i % len(captions)]} for i in range(batch)]
    return module, GPTCollate(prompt, PROMPT_LENGTH)(items)


def _plain_loop(batch: int, fused: bool, steps: int) -> tuple[float, float, GPTModule]:
    """(CPU s/step, wall s/step) of the training step without Lightning around it."""
    module, b = _setup(batch, fused)
    opt = module.configure_optimizers()["optimizer"]
    params = list(module.model.parameters())

    def step() -> None:
        loss, _ = module.loss_and_accuracy(b["prompt_ids"], b["codes"], 0.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: allocator, first-call dispatch
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps, module


class _StepClock(L.Callback):
    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self._c, self._w = time.process_time(), time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        self.cpu.append(time.process_time() - self._c)
        self.wall.append(time.perf_counter() - self._w)


def _lightning_loop(batch: int, fused: bool, steps: int) -> tuple[float, float, GPTModule]:
    """The same step driven by a Lightning Trainer (logging, clipping, scheduler, collate included)."""
    module, b = _setup(batch, fused)
    clock = _StepClock()
    trainer = L.Trainer(
        max_steps=steps + 1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, gradient_clip_val=1.0, callbacks=[clock],
    )
    trainer.fit(module, DataLoader([b] * (steps + 1), batch_size=None))
    return sum(clock.cpu[1:]) / steps, sum(clock.wall[1:]) / steps, module


def run(steps: int = 3) -> list[dict]:
    """Rows: the matmul ceiling and each training variant with its tokens/s and MFU."""
    threads = torch.get_num_threads()
    variants = [  # (name, loop, batch, fused, threads)
        ("AdamW foreach", _plain_loop, 8, False, 1),
        ("AdamW fused", _plain_loop, 8, True, 1),
        ("AdamW fused, batch 16", _plain_loop, 16, True, 1),
        ("Lightning Trainer, fused", _lightning_loop, 8, True, 1),
    ]
    if threads > 1:
        variants.append((f"AdamW fused, {threads} threads", _plain_loop, 8, True, threads))
    rows = []
    try:
        for name, loop, batch, fused, n_threads in variants:
            torch.set_num_threads(n_threads)
            before = matmul_flops()
            cpu_s, wall_s, module = loop(batch, fused, steps)
            peak = (before + matmul_flops()) / 2
            model = module.model
            tokens = batch * (model.config.prompt_length + model.config.num_codes)
            flops = flops_per_token(model) * tokens / cpu_s
            rows.append({
                "variant": name, "threads": n_threads, "batch": batch, "seq": tokens // batch,
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "step_cpu_s": cpu_s, "tokens/s (cpu)": tokens / cpu_s, "tokens/s (wall)": tokens / wall_s,
                "model GFLOP/s": flops / 1e9, "matmul GFLOP/s": peak / 1e9, "MFU": flops / peak,
            })
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    from vidtok.eval.table import format_table

    print(format_table(run()))
