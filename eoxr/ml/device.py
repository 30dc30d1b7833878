"""Pick the torch device: ``"auto"`` means CUDA, then Apple MPS, then CPU."""
from __future__ import annotations


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
