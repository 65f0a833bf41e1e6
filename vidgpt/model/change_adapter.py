"""The change adapter: low-rank deltas to the GPT's projections, used only from a prompt change on.

A GPT trained on plain clips carries the old object on for a latent frame after a change (its size, an
in-between colour). Fine-tuning the whole GPT on switch clips teaches it to follow the new prompt, but
costs plain videos what it gains. The adapter is that fine-tune in low rank (LoRA: W + (alpha / r) B A
for every attention and MLP projection of every layer), trained on switch clips with the base frozen and
switched on only from a change on, where the generator prefills the codes made so far again anyway. So
videos without a change are the base model's to the bit, and the file is small.

Saved as `change_adapter.safetensors` beside the GPT's weights, in float16 (the deltas need no more), with
its rank and alpha in the file's metadata.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

ADAPTER_FILE = "change_adapter.safetensors"
# the projections of a Llama decoder layer, relative to the layer
TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
STORED_DTYPE = torch.float16


def target_linears(backbone: nn.Module) -> dict[str, nn.Linear]:
    """{name relative to the backbone (e.g. "layers.0.self_attn.q_proj"): its Linear} of a LlamaModel."""
    modules = dict(backbone.named_modules())
    return {f"layers.{i}.{t}": modules[f"layers.{i}.{t}"] for i in range(len(backbone.layers)) for t in TARGETS}


class ChangeAdapter(nn.Module):
    """Low-rank deltas (B A) for `shapes` ({name: (out, in)}); B starts at zero, so a new adapter changes nothing."""

    def __init__(self, shapes: dict[str, tuple[int, int]], rank: int, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise ValueError(f"change adapter rank must be an integer >= 1, got {rank!r}")
        self.rank = rank
        self.alpha = float(alpha if alpha is not None else rank)
        if not self.alpha > 0:
            raise ValueError(f"change adapter alpha must be > 0, got {alpha!r}")
        self.names = list(shapes)
        self.a = nn.ParameterList()
        self.b = nn.ParameterList()
        for name in self.names:
            out, inp = shapes[name]
            a = torch.empty(rank, inp)
            nn.init.kaiming_uniform_(a, a=5 ** 0.5)  # as LoRA: A like a Linear's weight, B zero
            self.a.append(nn.Parameter(a))
            self.b.append(nn.Parameter(torch.zeros(out, rank)))

    @classmethod
    def for_backbone(cls, backbone: nn.Module, rank: int, alpha: float | None = None) -> "ChangeAdapter":
        shapes = {name: tuple(lin.weight.shape) for name, lin in target_linears(backbone).items()}
        weight = backbone.layers[0].self_attn.q_proj.weight
        return cls(shapes, rank, alpha).to(device=weight.device, dtype=weight.dtype)

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def merged(self, backbone: nn.Module) -> dict[str, torch.Tensor]:
        """{"<name>.weight": W + (alpha / r) B A} of `backbone`'s projections: for `torch.func.functional_call`
        (differentiable) and for the sampling forward's fused weights."""
        linears = target_linears(backbone)
        return {f"{name}.weight": linears[name].weight + (b @ a) * self.scale
                for name, a, b in zip(self.names, self.a, self.b)}

    # ---------------------------------------------------------------- file
    def save(self, path: Path) -> None:
        state = {}
        for name, a, b in zip(self.names, self.a, self.b):
            state[f"{name}.a"] = a.detach().to("cpu", STORED_DTYPE).contiguous()
            state[f"{name}.b"] = b.detach().to("cpu", STORED_DTYPE).contiguous()
        save_file(state, str(path), metadata={"rank": str(self.rank), "alpha": repr(self.alpha)})

    @classmethod
    def load(cls, path: Path, backbone: nn.Module) -> "ChangeAdapter":
        """The adapter in `path`, for `backbone` (a LlamaModel); ValueError if it is unreadable or does not fit."""
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            state = load_file(str(path))
            rank, alpha = int(meta["rank"]), float(meta["alpha"])
        except (SafetensorError, KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path} is not a readable change adapter ({e}): it is corrupt or truncated") from None
        adapter = cls.for_backbone(backbone, rank, alpha)
        expected = {f"{n}.{p}" for n in adapter.names for p in "ab"}
        if set(state) != expected:
            raise ValueError(f"{path}: the change adapter does not fit this GPT (its tensors are not this "
                             f"backbone's {len(adapter.names)} projections)")
        with torch.no_grad():
            for name, a, b in zip(adapter.names, adapter.a, adapter.b):
                for param, key in ((a, f"{name}.a"), (b, f"{name}.b")):
                    if tuple(state[key].shape) != tuple(param.shape):
                        raise ValueError(f"{path}: the change adapter does not fit this GPT ({key} is "
                                         f"{tuple(state[key].shape)}, expected {tuple(param.shape)})")
                    if not torch.isfinite(state[key]).all():
                        raise ValueError(f"{path}: the change adapter's {key} is not finite")
                    param.copy_(state[key])
        return adapter
