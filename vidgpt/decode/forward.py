"""A functional forward over a VidGPT's Llama weights with a static KV cache (gpt-fast style).

The cache is preallocated per layer and written at explicit slots with one `index_copy_`; RoPE uses
explicit positions (= slots); attention takes an explicit mask over the cache slots, so any subset of
positions can be fed in any order.

A decoding step of a small model is a few hundred tiny ops, so what matters on CPU is the number of
ops (each costs dispatch, allocation and a pass over memory), not FLOPs. Per layer this runs 10 ops:
- the RMSNorm weights are folded into the fused q/k/v and gate/up weights (and the head), so a norm
  is the weightless `rms_norm`;
- q and k heads have their head dimension reordered so that Llama's rotate-half pairs (i, i + d/2)
  are adjacent: RoPE is then one in-place complex multiply over q, k *and* v (v's factor is exactly
  1 + 0j), and k, v land in the cache with a single copy. Attention only sees q.k dot products, which
  are invariant under the same reordering of q's and k's coordinates;
- residual additions ride along in `addmm`.
The fused copies are rebuilt whenever a parameter has been modified since (tensor version counters),
so training in between is safe. Results equal the transformers forward up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.gpt import VidGPT


@dataclass
class KVCache:
    keys: list[torch.Tensor]  # per layer (B, kv_heads, max_len, head_dim): views into `kv`
    values: list[torch.Tensor]
    kv: list[torch.Tensor] | None = None  # per layer (B, 2 * kv_heads, max_len, head_dim): keys then values

    @property
    def batch(self) -> int:
        return self.keys[0].shape[0]


@dataclass
class _Layer:
    qkv: torch.Tensor  # (in, out): input norm folded in, q/k head dims in RoPE pair order
    qkv_bias: torch.Tensor | None
    out: torch.Tensor  # (in, out)
    out_bias: torch.Tensor | None
    gate_up: torch.Tensor  # (in, out): post-attention norm folded in
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor  # (in, out)
    down_bias: torch.Tensor | None


def _pair_order(heads: int, head_dim: int) -> torch.Tensor:
    """Row order putting each head's rotate-half pairs (i, i + d/2) next to each other."""
    half = head_dim // 2
    within = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()
    return (torch.arange(heads)[:, None] * head_dim + within).flatten()


class StaticForward:
    """Prefill/step forward of `gpt` over a static KV cache; returns code logits only."""

    def __init__(self, gpt: VidGPT, max_len: int | None = None) -> None:
        cfg = gpt.llama.config
        self.gpt = gpt
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        if self.head_dim % 2:
            raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim}")
        self.eps = cfg.rms_norm_eps
        self.max_len = max_len or gpt.config.seq_len
        self._versions: list[int] | None = None
        self.refresh()

    def refresh(self) -> None:
        """(Re)build the fused weights if any parameter changed since the last build."""
        params = list(self.gpt.parameters())
        versions = [p._version for p in params] + [id(p) for p in params]
        if versions == self._versions:
            return
        model = self.gpt.llama.model
        nq, nkv, hd = self.heads, self.kv_heads, self.head_dim
        q_order = _pair_order(nq, hd)
        k_order = _pair_order(nkv, hd)
        order = torch.cat([q_order, nq * hd + k_order, torch.arange((nq + nkv) * hd, (nq + 2 * nkv) * hd)])
        with torch.no_grad():
            self.embed = model.embed_tokens.weight
            device = self.embed.device
            order = order.to(device)
            self.layers = []
            for layer in model.layers:
                a, m = layer.self_attn, layer.mlp
                norm1, norm2 = layer.input_layernorm.weight, layer.post_attention_layernorm.weight
                qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])[order] * norm1
                qkv_bias = None if a.q_proj.bias is None else torch.cat([a.q_proj.bias, a.k_proj.bias,
                                                                          a.v_proj.bias])[order]
                gate_up = torch.cat([m.gate_proj.weight, m.up_proj.weight]) * norm2
                gate_up_bias = None if m.gate_proj.bias is None else torch.cat([m.gate_proj.bias, m.up_proj.bias])
                self.layers.append(_Layer(
                    qkv.t().contiguous(), qkv_bias, a.o_proj.weight.t(), a.o_proj.bias,
                    gate_up.t().contiguous(), gate_up_bias, m.down_proj.weight.t(), m.down_proj.bias,
                ))
            self.head = (self.gpt.code_head() * model.norm.weight).t().contiguous()
            # the model's own rotary module, so positions are encoded exactly as in training
            pos = torch.arange(self.max_len, device=device)[None]
            cos, sin = model.rotary_emb(self.embed[:1], pos)
            half = hd // 2
            cos, sin = cos[0].float(), sin[0].float()
            if not (torch.equal(cos[:, :half], cos[:, half:]) and torch.equal(sin[:, :half], sin[:, half:])):
                raise ValueError("unsupported rotary embedding: cos/sin halves differ (not rotate-half RoPE)")
            self.rotation = torch.complex(cos[:, :half], sin[:, :half])  # (max_len, half)
            self.identity = torch.ones(1, 1, half, dtype=self.rotation.dtype, device=device).expand(-1, nkv, -1)
        self._versions = versions

    def new_cache(self, batch: int) -> KVCache:
        self.refresh()
        shape = (batch, 2 * self.kv_heads, self.max_len, self.head_dim)
        kv = [self.embed.new_zeros(shape) for _ in self.layers]
        nkv = self.kv_heads
        return KVCache([c[:, :nkv] for c in kv], [c[:, nkv:] for c in kv], kv)

    def __call__(self, cache: KVCache, tokens: torch.Tensor, slots: torch.Tensor, kv_len: int,
                 mask: torch.Tensor | None = None, is_causal: bool = False,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, n) fed at cache slots `slots` (n,) -> code logits (B, m, K) for the queries `rows`
        (all n when None). Attention reads slots [0, kv_len) under `mask` (n, kv_len): bool (True =
        attend) or additive float; None means every slot (is_causal: the lower-triangular mask, for a
        block fed at slots 0..n-1)."""
        if cache.kv is None:
            raise ValueError("this KVCache was not made by StaticForward.new_cache")
        b, n = tokens.shape
        hd, nq, nkv = self.head_dim, self.heads, self.kv_heads
        heads = nq + 2 * nkv
        x = F.embedding(tokens.reshape(-1), self.embed)  # (b * n, hidden)
        dim = (x.shape[-1],)
        # per-call, shared by all layers: RoPE factors for q and k heads, exactly 1 for v heads
        rot = self.rotation[slots][:, None]  # (n, 1, half)
        rot = torch.cat([rot.expand(-1, nq + nkv, -1), self.identity.expand(n, -1, -1)], dim=1)
        attn_mask = None
        if mask is not None:
            if mask.dtype == torch.bool:  # SDPA would convert a bool mask in every layer
                mask = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill_(~mask, float("-inf"))
            attn_mask = mask[None, None]
        gqa = nq != nkv
        for i, w in enumerate(self.layers):
            h = F.rms_norm(x, dim, None, self.eps)
            qkv = torch.mm(h, w.qkv) if w.qkv_bias is None else torch.addmm(w.qkv_bias, h, w.qkv)
            qkv = qkv.view(b, n, heads, hd)
            torch.view_as_complex(qkv.view(b, n, heads, hd // 2, 2)).mul_(rot)
            kv = cache.kv[i]
            kv.index_copy_(2, slots, qkv[:, :, nq:].transpose(1, 2))
            o = F.scaled_dot_product_attention(qkv[:, :, :nq].transpose(1, 2), kv[:, :nkv, :kv_len],
                                               kv[:, nkv:, :kv_len], attn_mask=attn_mask, is_causal=is_causal,
                                               enable_gqa=gqa)
            x = torch.addmm(x, o.transpose(1, 2).reshape(b * n, nq * hd), w.out)
            if w.out_bias is not None:
                x += w.out_bias
            h = F.rms_norm(x, dim, None, self.eps)
            gu = torch.mm(h, w.gate_up) if w.gate_up_bias is None else torch.addmm(w.gate_up_bias, h, w.gate_up)
            inter = gu.shape[-1] // 2
            x = torch.addmm(x, F.silu(gu[:, :inter]).mul_(gu[:, inter:]), w.down)
            if w.down_bias is not None:
                x += w.down_bias
        x = x.view(b, n, -1)
        if rows is not None:
            x = x[:, rows]
        return F.rms_norm(x, dim, None, self.eps) @ self.head
