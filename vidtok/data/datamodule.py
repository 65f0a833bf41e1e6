"""`VideoDataModule`: train/val datasets (any of ours, built by Hydra) -> DataLoaders for either stage."""

from __future__ import annotations

from typing import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset


class VideoDataModule(L.LightningDataModule):
    """Wraps already-built datasets; ``batch_size`` is per device (global = batch_size x devices x nodes)."""

    def __init__(
        self,
        train: Dataset,
        val: Dataset | None = None,
        batch_size: int = 8,
        num_workers: int = 2,
        collate_fn: Callable | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        self.train, self.val = train, val
        self.batch_size, self.num_workers, self.collate_fn = batch_size, num_workers, collate_fn

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=self.collate_fn,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val, shuffle=False) if self.val is not None else []
