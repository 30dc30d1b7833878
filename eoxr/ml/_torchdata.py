"""Torch adapters of :class:`eoxr.ml.Patches` (imported only when torch is used)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class PatchDataset(Dataset):
    """Map-style dataset: item ``i`` is ``(x, y)`` float32 tensors ``(C, h, w)`` (just ``x`` without target)."""

    def __init__(self, gen):
        self.gen = gen

    def __len__(self) -> int:
        return len(self.gen)

    def __getitem__(self, i):
        x, y = self.gen[int(i)]
        return torch.from_numpy(np.ascontiguousarray(x)) if y is None else (
            torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))


class _EpochOrder(Sampler):
    def __init__(self, gen, epoch: int):
        self.order = gen.order(epoch)

    def __iter__(self):
        return iter(int(i) for i in self.order)

    def __len__(self) -> int:
        return len(self.order)


def make_loader(gen, batch_size: int = 16, epoch: int = 0, num_workers: int = 0, **kwargs) -> DataLoader:
    """DataLoader over ``gen`` in the order of ``epoch``. With workers, patches are decoded into the cache
    first (so workers copy decoded arrays instead of reading Zarr) and workers are spawned: a forked child
    inherits Dask's thread locks in whatever state they were and can hang."""
    if num_workers:
        gen.load()
        kwargs.setdefault("multiprocessing_context", "spawn")
        kwargs.setdefault("persistent_workers", False)
    return DataLoader(PatchDataset(gen), batch_size=batch_size, sampler=_EpochOrder(gen, epoch),
                      num_workers=num_workers, **kwargs)
