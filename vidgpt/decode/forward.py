"""A functional forward over a VidGPT's Llama weights with a static KV cache (gpt-fast style).

The cache is preallocated per layer as (B, kv_heads, max_len, head_dim) and written at explicit
slots with `index_copy_`; RoPE uses explicit positions (= slots); attention takes an explicit boolean
mask over the cache slots, so any subset of positions can be fed in any order.

Decoding a token is a few dozen small ops per layer, so the Python/dispatch cost of each op is what
matters on CPU: q/k/v and gate/up projections are fused into one matmul each, q and k are rotated in
one go, and the weights are read once into plain lists. The fused copies are refreshed whenever a
parameter has been modified since (tensor version counters), so training in between is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.gpt import VidGPT


@dataclass
class KVCache:
    keys: list[torch.Tensor]  # per layer (B, kv_heads, max_len, head_dim)
    values: list[torch.Tensor]

    @property
    def batch(self) -> int:
        return self.keys[0].shape[0]


@dataclass
class _Layer:
    norm1: torch.Tensor
    qkv: torch.Tensor
    qkv_bias: torch.Tensor | None
    out: torch.Tensor
    out_bias: torch.Tensor | None
    norm2: torch.Tensor
    gate_up: torch.Tensor
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor
    down_bias: torch.Tensor | None


def _cat(*xs: torch.Tensor | None) -> torch.Tensor | None:
    return None if xs[0] is None else torch.cat(xs)


class StaticForward:
    """Prefill/step forward of `gpt` over a static KV cache; returns code logits only."""

    def __init__(self, gpt: VidGPT, max_len: int | None = None) -> None:
        cfg = gpt.llama.config
        self.gpt = gpt
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.max_len = max_len or gpt.config.seq_len
        self._versions: list[int] | None = None
        self.refresh()

    def refresh(self) -> None:
        """(Re)read the weights if any parameter changed since the last read."""
        params = list(self.gpt.parameters())
        versions = [p._version for p in params] + [id(p) for p in params]
        if versions == self._versions:
            return
        self._versions = versions
        model = self.gpt.llama.model
        with torch.no_grad():
            self.embed = model.embed_tokens.weight
            self.layers = []
            for layer in model.layers:
                a, m = layer.self_attn, layer.mlp
                self.layers.append(_Layer(
                    layer.input_layernorm.weight,
                    torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
                    _cat(a.q_proj.bias, a.k_proj.bias, a.v_proj.bias),
                    a.o_proj.weight, a.o_proj.bias,
                    layer.post_attention_layernorm.weight,
                    torch.cat([m.gate_proj.weight, m.up_proj.weight]),
                    _cat(m.gate_proj.bias, m.up_proj.bias),
                    m.down_proj.weight, m.down_proj.bias,
                ))
            self.norm = model.norm.weight
            self.head = self.gpt.code_head()
            # the model's own rotary module, so positions are encoded exactly as in training
            pos = torch.arange(self.max_len, device=self.embed.device)[None]
            cos, sin = model.rotary_emb(self.embed[:1], pos)
            half = self.head_dim // 2
            self.cos = cos[0]  # (max_len, head_dim)
            # rotate_half(x) * sin == roll(x, half) * [-sin_1, sin_2]: one op fewer per rotation
            self.sin = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)

    def new_cache(self, batch: int) -> KVCache:
        self.refresh()
        shape = (batch, self.kv_heads, self.max_len, self.head_dim)
        n = len(self.layers)
        e = self.embed
        return KVCache([e.new_zeros(shape) for _ in range(n)], [e.new_zeros(shape) for _ in range(n)])

    def __call__(self, cache: KVCache, tokens: torch.Tensor, slots: torch.Tensor, kv_len: int,
                 mask: torch.Tensor | None = None, is_causal: bool = False,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, n) fed at cache slots `slots` (n,) -> code logits (B, m, K) for the queries `rows`
        (all n when None). Attention reads slots [0, kv_len) under `mask` (n, kv_len) bool; mask None
        means every slot (is_causal: the lower-triangular mask, for a block fed at slots 0..n-1)."""
        b, n = tokens.shape
        hd, nq, nkv = self.head_dim, self.heads, self.kv_heads
        half = hd // 2
        x = F.embedding(tokens, self.embed)
        cos, sin = self.cos[slots][:, None], self.sin[slots][:, None]  # (n, 1, hd): broadcast over heads
        attn_mask = None if mask is None else mask[None, None]
        gqa = nq != nkv
        for i, w in enumerate(self.layers):
            h = F.rms_norm(x, (x.shape[-1],), w.norm1, self.eps)
            qkv = F.linear(h, w.qkv, w.qkv_bias).view(b, n, nq + 2 * nkv, hd)
            qk = qkv[:, :, : nq + nkv]
            qk = torch.addcmul(qk * cos, qk.roll(half, dims=-1), sin)
            q = qk[:, :, :nq].transpose(1, 2)
            k = qk[:, :, nq:].transpose(1, 2)
            v = qkv[:, :, nq + nkv:].transpose(1, 2)
            cache.keys[i].index_copy_(2, slots, k)
            cache.values[i].index_copy_(2, slots, v)
            o = F.scaled_dot_product_attention(q, cache.keys[i][:, :, :kv_len], cache.values[i][:, :, :kv_len],
                                               attn_mask=attn_mask, is_causal=is_causal, enable_gqa=gqa)
            x = x + F.linear(o.transpose(1, 2).reshape(b, n, nq * hd), w.out, w.out_bias)
            h = F.rms_norm(x, (x.shape[-1],), w.norm2, self.eps)
            gate, up = F.linear(h, w.gate_up, w.gate_up_bias).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w.down, w.down_bias)
        if rows is not None:
            x = x[:, rows]
        return F.linear(F.rms_norm(x, (x.shape[-1],), self.norm, self.eps), self.head)
