"""Surface rain rate from passive-microwave radiometers (GMI and the GPM constellation).

Physics: :mod:`.radiometers` (channel tables), :mod:`.forward` (slab radiative transfer), :mod:`.synth`
(synthetic swaths with a radar-like reference), :mod:`.calibration` (synthetic against real GMI statistics).
Importing this package does not import torch.
"""
