"""Backbone sizes, from a test toy to ~1B parameters. Keys are the fields of `Backbone`."""

from __future__ import annotations

PRESETS: dict[str, dict[str, int]] = {
    # unit tests: a few ms per forward
    "tiny": dict(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128),
    # make train-demo: ~2M parameters, ~4x the steps of "demo" in the same minutes
    "mini": dict(layers=4, hidden=192, heads=4, kv_heads=4, intermediate=512),
    # CPU demo: ~6M parameters, trains on the Shapes world in minutes
    "demo": dict(layers=8, hidden=256, heads=4, kv_heads=4, intermediate=688),
    # single GPU: ~85M
    "small": dict(layers=12, hidden=768, heads=12, kv_heads=12, intermediate=2048),
    # ~300M
    "medium": dict(layers=24, hidden=1024, heads=16, kv_heads=8, intermediate=2816),
    # ~1B
    "large": dict(layers=22, hidden=2048, heads=16, kv_heads=8, intermediate=5632),
}


def preset(name: str) -> dict[str, int]:
    """A copy of the named preset's backbone fields."""
    if name not in PRESETS:
        raise ValueError(f"unknown vidgpt preset {name!r}; choose one of {sorted(PRESETS)}")
    return dict(PRESETS[name])
