"""A tokenizer's identity: a SHA-256 over its config and the weights that make its codes.

Token shards and a trained GPT are only meaningful next to the exact tokenizer that made the codes;
two tokenizers with the same architecture but different weights give different codes, so the
fingerprint covers the weights, not just the config. It leaves out the decoder (`decoder.*` weights):
the decoder only draws the codes, so a decoder fine-tuned on its own (`vidtok-train init_from=...
recipe.freeze_encoder=true`) keeps every GPT and token shard made with the tokenizer valid, and makes
their videos better. Fingerprints recorded before this rule hashed every weight; they are still accepted.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn


DECODER_PREFIX = "decoder."
# A cut decoder (VideoTokenizer.cut_decoder) only draws codes too; whole-weights hashes never held one.
CUT_DECODER_PREFIX = "cut_decoder."


def tokenizer_fingerprint(tokenizer: nn.Module) -> str:
    """Hex SHA-256 of the tokenizer's config (`cfg.identity_dict()` or `cfg.to_dict()`) and every state-dict
    tensor outside its decoder (see the module docstring).

    Independent of the device the weights live on; changes when any config value or encoder/quantizer
    weight changes. A tokenizer with its own `fingerprint` (string or method) is taken at its word, so
    that this and `vidgpt.model.tokenizer_identity` always agree.
    """
    own = getattr(tokenizer, "fingerprint", None)
    own = own() if callable(own) else own
    if own is not None:
        return str(own)
    return _weights_hash(tokenizer, skip=(DECODER_PREFIX, CUT_DECODER_PREFIX))


def fingerprint_matches(tokenizer: nn.Module, expected: str) -> bool:
    """Whether `expected` (a recorded fingerprint) names this tokenizer: today's fingerprint, or the
    whole-weights hash that fingerprints were before the decoder was left out."""
    if tokenizer_fingerprint(tokenizer) == expected:
        return True
    legacy = _weights_hash(tokenizer, skip=(CUT_DECODER_PREFIX,))
    return getattr(tokenizer, "fingerprint", None) is None and legacy == expected


def _weights_hash(tokenizer: nn.Module, skip: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    cfg = getattr(tokenizer, "cfg", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        d = cfg.identity_dict() if hasattr(cfg, "identity_dict") else cfg.to_dict()
        h.update(json.dumps(d, sort_keys=True).encode())
    for name, tensor in sorted(tokenizer.state_dict().items()):
        if name.startswith(skip):
            continue
        t = tensor.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # view as bytes: numpy cannot hold bfloat16, and the raw bytes are what identity means
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
