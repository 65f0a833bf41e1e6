"""A functional forward over a VidGPT's Llama weights with a static KV cache (gpt-fast style).

The cache is preallocated, one tensor for all layers, and written at explicit slots; RoPE uses
explicit positions (= slots); attention takes an explicit mask over the cache slots, so any subset of
positions can be fed in any order.

A sampling step of a small model on CPU costs (a) streaming the weights and the cache through memory
once and (b) ~10 us of dispatch per op, so a raster step is bound by memory and op count, not FLOPs.
Per layer this runs 4 matmuls and ~10 small ops, all on buffers made once per call:
- weights are re-laid once into (in, out) matrices (the fast orientation for MKL's one-row matmul),
  q/k/v and gate/up fused, the RMSNorm weights and sqrt(hidden) folded in, so a norm is x / sqrt(|x|^2
  + d eps): one `addmm` and two elementwise ops for the single row of a raster step;
- q and k have their head dimension reordered so that Llama's rotate-half pairs (i, i + d/2) are
  adjacent: RoPE is then one in-place complex multiply over q, k *and* v (v's factor is exactly 1 + 0j)
  and k, v land in the cache with one `index_copy_`. Attention only sees q.k dot products, which are
  invariant under the same reordering of q's and k's coordinates;
- residual additions ride along in `addmm_`, and a bool mask is turned into an additive one once per
  call instead of once per layer inside SDPA.
With `adapted=True` the fused weights are the model's with its change adapter's deltas added (merged
once, so an adapted step costs what a plain one does). The fused copies (one more copy of the weights) are rebuilt whenever a parameter has been modified
since (tensor version counters), so training in between is safe. Results equal the transformers
forward up to float rounding (tests/sampling/test_sampler.py).
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
    kv: torch.Tensor | None = None  # (layers, B, 2 * kv_heads, max_len, head_dim): keys then values

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


def _cat(*xs: torch.Tensor | None) -> torch.Tensor | None:
    return None if xs[0] is None else torch.cat(xs)


class StaticForward:
    """Prefill/step forward of `gpt` over a static KV cache; returns code logits only.
    `adapted`: with the change adapter's deltas merged in (for the codes after a prompt change)."""

    def __init__(self, gpt: VidGPT, max_len: int | None = None, adapted: bool = False) -> None:
        cfg = gpt.llama.config
        if adapted and gpt.change_adapter is None:
            raise ValueError("adapted=True: this VidGPT has no change adapter")
        self.gpt = gpt
        self.adapted = adapted
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
        half = hd // 2
        with torch.no_grad():
            merged = self.gpt.change_adapter.merged(model) if self.adapted else {}  # {"<name>.weight": W + delta}
            self.embed = model.embed_tokens.weight
            dtype, device = self.embed.dtype, self.embed.device
            dim = self.embed.shape[1]
            root = dim ** 0.5  # see _norm
            self.eps_d = torch.full((1, 1), self.eps * dim, dtype=dtype, device=device)
            order = torch.cat([_pair_order(nq, hd), nq * hd + _pair_order(nkv, hd),
                               torch.arange((nq + nkv) * hd, (nq + 2 * nkv) * hd)]).to(device)
            self.layers = []
            for i, layer in enumerate(model.layers):
                a, m = layer.self_attn, layer.mlp

                def weight(name: str) -> torch.Tensor:  # the projection's weight, with its delta if adapted
                    return merged.get(f"layers.{i}.{name}.weight", layer.get_submodule(name).weight)

                norm1 = layer.input_layernorm.weight * root
                norm2 = layer.post_attention_layernorm.weight * root
                qkv = torch.cat([weight("self_attn.q_proj"), weight("self_attn.k_proj"),
                                 weight("self_attn.v_proj")])[order] * norm1
                qkv_bias = _cat(a.q_proj.bias, a.k_proj.bias, a.v_proj.bias)
                gate_up = torch.cat([weight("mlp.gate_proj"), weight("mlp.up_proj")]) * norm2
                self.layers.append(_Layer(
                    qkv.t().contiguous(), None if qkv_bias is None else qkv_bias[order],
                    weight("self_attn.o_proj").t().contiguous(), a.o_proj.bias,
                    gate_up.t().contiguous(), _cat(m.gate_proj.bias, m.up_proj.bias),
                    weight("mlp.down_proj").t().contiguous(), m.down_proj.bias,
                ))
            self.head = (self.gpt.code_head() * (model.norm.weight * root)).t().contiguous()
            # the model's own rotary module, so positions are encoded exactly as in training; in
            # float32 (float64 for a float64 model): the complex multiply needs a complex dtype
            real = torch.float64 if dtype == torch.float64 else torch.float32
            self.complex_inplace = dtype == real  # else RoPE runs on a float32 copy of q/k/v
            cos, sin = model.rotary_emb(self.embed[:1].to(real), torch.arange(self.max_len, device=device)[None])
            cos, sin = cos[0], sin[0]
            if not (torch.equal(cos[:, :half], cos[:, half:]) and torch.equal(sin[:, :half], sin[:, half:])):
                raise ValueError("unsupported rotary embedding: cos/sin halves differ (not rotate-half RoPE)")
            self.rotation = torch.complex(cos[:, :half], sin[:, :half])  # (max_len, half)
            self.identity = torch.ones(1, nkv, half, dtype=self.rotation.dtype, device=device)
        self._versions = versions

    def new_cache(self, batch: int) -> KVCache:
        self.refresh()
        kv = self.embed.new_zeros(len(self.layers), batch, 2 * self.kv_heads, self.max_len, self.head_dim)
        nkv = self.kv_heads
        return KVCache(list(kv[:, :, :nkv].unbind()), list(kv[:, :, nkv:].unbind()), kv)

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
        x = F.embedding(tokens.reshape(-1), self.embed)  # (b * n, hidden): the residual stream, updated in place
        # Per call, shared by all layers: RoPE factors (exactly 1 for v heads), the additive mask, the
        # buffers every layer's q/k/v and gate/up matmuls overwrite, and all views of them.
        rot = self.rotation.index_select(0, slots)[:, None]  # (n, 1, half)
        rot = torch.cat([rot.expand(-1, nq + nkv, -1), self.identity.expand(n, -1, -1)], dim=1)
        attn_mask = None
        if mask is not None:
            if mask.dtype == torch.bool:
                mask = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill_(~mask, float("-inf"))
            attn_mask = mask[None, None]
        qkv = x.new_empty(b * n, heads * hd)
        qkv_heads = qkv.view(b, n, heads, hd)
        pair_shape = (b, n, heads, hd // 2, 2)
        qkv_pairs = torch.view_as_complex(qkv.view(pair_shape)) if self.complex_inplace else None
        q = qkv_heads[:, :, :nq].transpose(1, 2)
        new_kv = qkv_heads[:, :, nq:].transpose(1, 2)
        inter = self.layers[0].gate_up.shape[1] // 2
        gate_up = x.new_empty(b * n, 2 * inter)
        gate, up = gate_up[:, :inter], gate_up[:, inter:]
        keys = cache.kv[:, :, :nkv, :kv_len].unbind()
        values = cache.kv[:, :, nkv:, :kv_len].unbind()
        gqa = nq != nkv
        for w, kv, k, v in zip(self.layers, cache.kv.unbind(), keys, values):
            torch.mm(self._norm(x), w.qkv, out=qkv)
            if w.qkv_bias is not None:
                qkv += w.qkv_bias
            if qkv_pairs is not None:
                qkv_pairs.mul_(rot)
            else:
                turned = torch.view_as_complex(qkv.float().view(pair_shape)) * rot
                qkv_heads.copy_(torch.view_as_real(turned).view(b, n, heads, hd))
            kv.index_copy_(2, slots, new_kv)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, enable_gqa=gqa)
            # (b, nq, n, hd) -> (b * n, nq * hd); with n = 1 that is a plain view
            x.addmm_(o.reshape(b, nq * hd) if n == 1 else o.transpose(1, 2).reshape(b * n, nq * hd), w.out)
            if w.out_bias is not None:
                x += w.out_bias
            torch.mm(self._norm(x), w.gate_up, out=gate_up)
            if w.gate_up_bias is not None:
                gate_up += w.gate_up_bias
            x.addmm_(F.silu(gate, inplace=True).mul_(up), w.down)
            if w.down_bias is not None:
                x += w.down_bias
        if rows is not None:
            x = x.view(b, n, -1)[:, rows].reshape(-1, x.shape[-1])
        return (self._norm(x) @ self.head).view(b, -1, self.head.shape[1])

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        """RMSNorm of the rows of x (r, d) without its weight and scaled by 1/sqrt(d), both folded into
        the next matmul: x / sqrt(|x|^2 + d eps). F.rms_norm runs ~10 ops on CPU, this 3 for one row;
        eps is a tensor because a Python scalar operand costs more than the op itself."""
        if not self.complex_inplace:  # half precision: reduce in float32, as transformers does
            xf = x.float()
            return (xf * (xf * xf).sum(-1, keepdim=True).add_(self.eps_d.float()).rsqrt_()).to(x.dtype)
        if x.shape[0] == 1:
            squares = torch.addmm(self.eps_d, x, x.t())
        else:
            squares = (x * x).sum(-1, keepdim=True).add_(self.eps_d)
        return x * squares.rsqrt_()
