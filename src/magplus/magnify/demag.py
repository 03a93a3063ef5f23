"""DeMagPlus: the learned de-magnifier (α ≤ 1), the inverse stage of the MagPlus pipeline.

It receives ``1/α_magnify`` and shrinks the motion of the backbone's macro-range output back to
micro range, shrinking the backbone's own noise by the same factor. Same network family as
:class:`~magplus.magnify.learned.MagPlus`, trained for α in [1/32, 1] on larger input motions,
with the α code applied to ``1/α``; α < 1/32 runs as repeated steps.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from .learned import LearnedMagnifier


class DeMagPlus(LearnedMagnifier):
    """Learned motion de-magnifier (α ≤ 1).

    Example:
        >>> demag = DeMagPlus()                       # shipped weights
        >>> micro = demag(macro[0], macro, 1 / 10.0)  # doctest: +SKIP
    """

    name = "demagplus"
    weights_file = "demagplus.safetensors"
    alpha_low, alpha_high = 1.0 / 32.0, 1.0

    def _check_range(self, alpha: torch.Tensor) -> None:
        if bool((alpha > 1).any()):
            raise InputError(f"DeMagPlus attenuates (alpha <= 1, e.g. 1/alpha_magnify), got alpha max "
                             f"{float(alpha.max()):.3g}; use MagPlus (registry name 'magplus') for alpha > 1.")
