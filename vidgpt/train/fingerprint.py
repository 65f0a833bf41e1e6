"""A tokenizer's identity: a SHA-256 over its config and weights.

Token shards and a trained GPT are only meaningful next to the exact tokenizer that made the codes;
two tokenizers with the same architecture but different weights give different codes, so the
fingerprint covers the weights, not just the config.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn


def tokenizer_fingerprint(tokenizer: nn.Module) -> str:
    """Hex SHA-256 of the tokenizer's config (`cfg.identity_dict()` or `cfg.to_dict()`) and every state-dict tensor.

    Independent of the device the weights live on; changes when any weight or config value changes.
    A tokenizer with its own `fingerprint` (string or method) is taken at its word, so that this and
    `vidgpt.model.tokenizer_identity` always agree.
    """
    own = getattr(tokenizer, "fingerprint", None)
    own = own() if callable(own) else own
    if own is not None:
        return str(own)
    h = hashlib.sha256()
    cfg = getattr(tokenizer, "cfg", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        d = cfg.identity_dict() if hasattr(cfg, "identity_dict") else cfg.to_dict()
        h.update(json.dumps(d, sort_keys=True).encode())
    for name, tensor in sorted(tokenizer.state_dict().items()):
        t = tensor.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # view as bytes: numpy cannot hold bfloat16, and the raw bytes are what identity means
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_trained_on(model, tokenizer: nn.Module) -> None:
    """Raise ValueError unless `tokenizer` is the one `model` (a VidGPT) records in its config.

    `VidGPT.check_tokenizer` compares the layout (codebook, grid); this adds the weights' fingerprint.
    """
    model.check_tokenizer(tokenizer)
    expected = (model.config.tokenizer or {}).get("fingerprint")
    if expected is None:  # nothing recorded to compare (and nothing to hash)
        return
    actual = tokenizer_fingerprint(tokenizer)
    if expected != actual:
        raise ValueError(
            f"tokenizer mismatch: the GPT was trained on tokenizer {expected[:12]}..., this one is {actual[:12]}... "
            "(same layout, other weights)"
        )
