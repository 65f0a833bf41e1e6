"""Several clip datasets mixed by weight into one, deterministically per index."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset


class MixtureDataset(Dataset):
    """Item ``i`` comes from dataset ``d`` with probability ``weights[d] / sum(weights)``.

    Both the dataset and the item inside it are drawn from ``default_rng([seed, i])``: the same
    index always gives the same item, in any worker. Items keep only ``keys`` (so that datasets with
    different extras, e.g. Shapes' "index", still collate) plus ``"source"``: the dataset's position.
    The mixed datasets must agree on clip shape (frames, size); where they expose ``frames`` and
    ``size`` attributes this is checked at construction.
    """

    def __init__(
        self,
        datasets: Sequence[Dataset],
        weights: Sequence[float] | None = None,
        length: int = 10000,
        seed: int = 0,
        keys: Sequence[str] = ("video", "caption"),
    ):
        datasets = list(datasets)
        if not datasets:
            raise ValueError("MixtureDataset needs at least one dataset")
        weights = [1.0] * len(datasets) if weights is None else [float(w) for w in weights]
        if len(weights) != len(datasets):
            raise ValueError(f"got {len(weights)} weights for {len(datasets)} datasets")
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights}")
        for d, ds in enumerate(datasets):
            if len(ds) == 0 and weights[d] > 0:
                raise ValueError(f"dataset {d} ({type(ds).__name__}) is empty but has weight {weights[d]}")
        for attr in ("frames", "size"):
            values = {getattr(ds, attr) for ds in datasets if hasattr(ds, attr)}
            if len(values) > 1:
                raise ValueError(f"mixed datasets disagree on {attr}: {sorted(values)}")
        if not (isinstance(length, int) and length >= 1):
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        self.datasets, self.length, self.seed, self.keys = datasets, length, seed, tuple(keys)
        self.probabilities = np.asarray(weights) / sum(weights)

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset position, index inside it) of item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for MixtureDataset of length {self.length}")
        rng = np.random.default_rng([self.seed, index])
        d = int(rng.choice(len(self.datasets), p=self.probabilities))
        return d, int(rng.integers(len(self.datasets[d])))

    def __getitem__(self, index: int) -> dict:
        d, inner = self.locate(index)
        item = self.datasets[d][inner]
        missing = [k for k in self.keys if k not in item]
        if missing:
            raise KeyError(f"dataset {d} ({type(self.datasets[d]).__name__}) items lack keys {missing}")
        out = {k: item[k] for k in self.keys}
        out["source"] = d
        return out
