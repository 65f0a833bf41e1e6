"""Distribution distance of generated videos to real ones, read against the real-vs-real floor.

A Fréchet distance alone means little (it depends on the features, the set size and the data);
next to the distance between two disjoint *real* sets of the same size it says how far from
"indistinguishable from real" a model is: ``ratio = distance / floor`` is ~1 for a perfect model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from vidtok.shapes.world import sample_clip, split_combinations, spread_indices
from vidtok.eval.frechet import frechet_distance
from vidtok.eval.random_features import hand_features, random_cnn_features

# name -> f(videos, batch_size, device) -> (N, D) features
FEATURES: dict[str, Callable[..., np.ndarray]] = {
    "random_cnn": random_cnn_features,
    "hand": lambda videos, batch_size, device: hand_features(videos),
}


def shapes_real_set(split: str, count: int, frames: int = 17, size: int = 64, replica: int = 0) -> list[np.ndarray]:
    """``count`` real Shapes clips of ``split``; different ``replica`` numbers give disjoint sets.

    Every replica holds the same combinations (clip ``i`` of replica ``k`` is clip
    ``i + k * stride`` with ``stride`` a multiple of the split's combination count), differing
    only in start positions: a floor must compare like with like. The combinations are those
    `spread_indices` picks, as for the generated videos they are compared with.
    """
    if count < 1 or replica < 0:
        raise ValueError(f"shapes_real_set needs count >= 1 and replica >= 0, got {count}, {replica}")
    combos = len(split_combinations(split))
    stride = -(-count // combos) * combos
    return [sample_clip(split, i + replica * stride, frames, size)[0] for i in spread_indices(split, count)]


def _extract(name: str, videos: Sequence[np.ndarray], batch_size: int, device, i3d) -> np.ndarray:
    if name == "i3d":
        from vidtok.eval.fvd import i3d_features

        return i3d_features(videos, i3d, batch_size, device)
    return FEATURES[name](videos, batch_size, device)


def frechet_report(
    real: Sequence[np.ndarray],
    generated: Sequence[np.ndarray],
    real_reference: Sequence[np.ndarray] | None = None,
    features: Sequence[str] = ("random_cnn", "hand"),
    i3d_path: str | Path | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> dict:
    """Fréchet distances of ``generated`` to ``real`` and the floor of ``real_reference`` to ``real``.

    All sets are sequences of uint8 videos (T, H, W, 3). ``real_reference`` must be real videos
    disjoint from ``real``, ideally as many as ``generated``; when it is None, ``real`` is split
    into halves: the first half is the reference for both distances, the second half gives the
    floor, and ``generated`` is compared to the first half. ``i3d_path`` adds ``"i3d"`` (FVD).

    Returns ``{name: {"distance", "floor", "ratio"}, "n_real", "n_reference", "n_generated"}``.
    """
    real, generated = list(real), list(generated)
    if real_reference is None:
        half = len(real) // 2
        real, real_reference = real[:half], real[half:]
    real_reference = list(real_reference)
    for label, s in (("real", real), ("real_reference", real_reference), ("generated", generated)):
        if len(s) < 2:
            raise ValueError(f"frechet_report needs at least 2 {label} videos, got {len(s)}")
    names = list(features)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature set(s) {unknown}; expected some of {list(FEATURES)}")
    i3d = None
    if i3d_path is not None:
        from vidtok.eval.fvd import load_i3d

        i3d = load_i3d(i3d_path, device)
        names.append("i3d")
    out: dict = {"n_real": len(real), "n_reference": len(real_reference), "n_generated": len(generated)}
    for name in names:
        f_real = _extract(name, real, batch_size, device, i3d)
        distance = frechet_distance(f_real, _extract(name, generated, batch_size, device, i3d))
        floor = frechet_distance(f_real, _extract(name, real_reference, batch_size, device, i3d))
        out[name] = {"distance": distance, "floor": floor, "ratio": distance / floor if floor > 0 else float("inf")}
    return out
