r"""The dense unitarity measure ‖W^H W − I‖_F, the default :meth:`RecurrentCell.unitarity_error` of every cell
that can form its recurrent matrix."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["frobenius_unitarity_error"]


def frobenius_unitarity_error(w: Tensor) -> Tensor:
    r"""‖W^H W − I‖_F of a dense square (or tall) matrix, computed densely; batched over leading dims.

    Example:
        >>> frobenius_unitarity_error(torch.eye(3)).item()
        0.0
    """
    gram = w.mH @ w
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.matrix_norm(gram - eye)
