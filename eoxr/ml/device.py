"""Torch devices for eoxr's learned methods: which device to use, and moving batches onto it.

- :func:`resolve_device`: ``"auto"`` means CUDA, then Apple MPS, then CPU;
- :func:`device_lock`: one model step at a time per GPU in a process (Dask's threads would otherwise run
  several forward passes side by side on one GPU, each holding its batch and activations);
- :func:`staged`: batches from host arrays to the device; on CUDA each batch is stacked into pinned
  (page-locked) memory and copied with ``non_blocking=True`` on a stream of its own, issued before the
  previous batch is computed, so the copy of one batch overlaps the network's kernels on the other.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator

import numpy as np

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def resolve_device(device: str = "auto") -> str:
    """Return ``"cuda"``, ``"mps"`` or ``"cpu"`` (also accepts ``"cuda:1"``); ``"auto"`` takes the best present."""
    import torch

    from ..errors import EoxrError, ParameterError

    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EoxrError(f"device {name!r} asked for, but torch sees no CUDA device; pass device='cpu' or 'auto'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EoxrError("device 'mps' asked for, but torch sees no MPS device; pass device='cpu' or 'auto'")
    if not (name == "cpu" or name == "mps" or name.startswith("cuda")):
        raise ParameterError(f"device must be 'auto', 'cpu', 'cuda[:N]' or 'mps', not {name!r}")
    return name


def is_cuda(device) -> bool:
    """Whether ``device`` (a name or ``torch.device``) is a CUDA device."""
    return str(device).startswith("cuda")


def device_lock(device):
    """A context that holds ``device`` for one model step: a lock per CUDA device (shared by the threads of this
    process), nothing for the CPU, where parallel steps are what the threads are for."""
    if not is_cuda(device):
        return contextlib.nullcontext()
    import torch

    key = str(torch.device(device if ":" in str(device) else f"cuda:{torch.cuda.current_device()}"))
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _stack(arrays: list[np.ndarray], pinned: bool):
    """``np.stack(arrays)`` as a CPU tensor, written straight into pinned memory when ``pinned``."""
    import torch

    if not pinned:
        return torch.from_numpy(np.stack(arrays))
    first = arrays[0]
    dtype = torch.from_numpy(np.empty(0, first.dtype)).dtype
    out = torch.empty((len(arrays), *first.shape), dtype=dtype, pin_memory=True)
    np.stack(arrays, out=out.numpy())
    return out


def staged(batches: Iterable[tuple[object, list[list[np.ndarray]]]], device) -> Iterator[tuple[object, list]]:
    """Yield ``(tag, tensors)`` on ``device`` for each ``(tag, [arrays, ...])`` of ``batches``: each list of
    equally-shaped arrays becomes one stacked tensor.

    On CUDA the next batch is stacked into pinned memory and its copy is issued on a side stream before the
    current one is handed over, so the host's stacking and the copy overlap the kernels of the current batch;
    the compute stream waits for each copy (an event), and the caching allocator is told which stream uses the
    memory (``record_stream``). Elsewhere the tensors are the stacked arrays themselves.
    """
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        for tag, groups in batches:
            yield tag, [_stack(g, pinned=False).to(device) for g in groups]
        return
    copy_stream = torch.cuda.Stream(device)
    compute_stream = torch.cuda.current_stream(device)
    pending = None
    for tag, groups in batches:
        host = [_stack(g, pinned=True) for g in groups]
        with torch.cuda.stream(copy_stream):
            moved = [h.to(device, non_blocking=True) for h in host]
        copied = torch.cuda.Event()
        copied.record(copy_stream)
        if pending is not None:
            yield _ready(pending, compute_stream)
        pending = (tag, moved, copied)
    if pending is not None:
        yield _ready(pending, compute_stream)


def _ready(pending, compute_stream):
    tag, moved, copied = pending
    compute_stream.wait_event(copied)
    for t in moved:
        t.record_stream(compute_stream)  # memory allocated on the copy stream, used on this one
    return tag, moved


def to_host(tensor) -> np.ndarray:
    """A numpy copy of ``tensor``; from CUDA through pinned memory, one copy for the whole block."""
    import torch

    if tensor.device.type != "cuda":
        return tensor.numpy()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    torch.cuda.current_stream(tensor.device).synchronize()
    return host.numpy().copy()  # pinned memory goes back to torch's pool, not to a long-lived Dask result
