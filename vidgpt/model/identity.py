"""The stage-1 tokenizer's identity, stored in vidgpt.json so that a GPT is never paired with a
tokenizer whose codes mean something else.

The tokenizer is used only through its public, duck-typed API: `codebook_size`,
`latent_shape(frames, height, width)`, and, when it has them, `factors` (temporal, spatial, spatial)
and `fingerprint` (a string, or a method returning one, that hashes its weights and config).
"""

from __future__ import annotations

from typing import Any

from vidtok.model.fingerprint import fingerprint_matches, tokenizer_fingerprint


def _optional(tokenizer: Any, name: str) -> Any:
    value = getattr(tokenizer, name, None)
    value = value() if callable(value) else value
    if value is None:
        return None
    return [int(v) for v in value] if name == "factors" else str(value)


def tokenizer_identity(tokenizer: Any, frames: int, height: int, width: int) -> dict[str, Any]:
    """What a GPT trained on `tokenizer`'s codes of (frames, height, width) videos must remember."""
    return {
        "codebook_size": int(tokenizer.codebook_size),
        "grid": [int(g) for g in tokenizer.latent_shape(frames, height, width)],
        "frames": int(frames),
        "height": int(height),
        "width": int(width),
        "factors": _optional(tokenizer, "factors"),
        "fingerprint": _optional(tokenizer, "fingerprint"),
    }


def check_tokenizer_identity(expected: dict[str, Any], tokenizer: Any) -> None:
    """Raise ValueError naming the first property in which `tokenizer` differs from `expected`."""
    actual = tokenizer_identity(tokenizer, expected["frames"], expected["height"], expected["width"])
    for key in ("codebook_size", "grid", "factors", "fingerprint"):
        want, got = expected.get(key), actual[key]
        if want is None or got is None:  # unknown on one side: nothing to compare
            continue
        if isinstance(want, (list, tuple)):
            want, got = [int(v) for v in want], [int(v) for v in got]
        if want != got:
            raise ValueError(
                f"tokenizer mismatch: the GPT was trained on a tokenizer with {key}={want}, "
                f"this one has {key}={got} (for {expected['frames']}x{expected['height']}x{expected['width']} videos)"
            )


def check_trained_on(model: Any, tokenizer: Any) -> None:
    """Raise ValueError unless `tokenizer` is the one `model` (a VidGPT) records in its config.

    `VidGPT.check_tokenizer` compares the layout (codebook, grid); this adds the weights' fingerprint.
    """
    model.check_tokenizer(tokenizer)
    expected = (model.config.tokenizer or {}).get("fingerprint")
    if expected is None:  # nothing recorded to compare (and nothing to hash)
        return
    if not fingerprint_matches(tokenizer, expected):
        actual = tokenizer_fingerprint(tokenizer)
        raise ValueError(
            f"tokenizer mismatch: the GPT was trained on tokenizer {expected[:12]}..., this one is {actual[:12]}... "
            "(same layout, other weights)"
        )
