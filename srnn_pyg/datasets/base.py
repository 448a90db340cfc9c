"""What every dataset of the library shares: :class:`STDataset`, data roots, errors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Dataset

from ..data import STData
from ..schema import STSchema

__all__ = ["STDataset", "resolve_root", "require_file", "DataFormatError"]

ENV_VAR = "SRNN_PYG_DATA"


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and, where it
    applies, the line."""


def resolve_root(root: Optional[Union[str, os.PathLike]], subdir: str) -> Path:
    """The folder of one dataset: ``root`` if given, else ``$SRNN_PYG_DATA/subdir``.

    ``root`` may point at the dataset's own folder or at the folder that holds
    ``subdir``.

    Raises:
        FileNotFoundError: naming the folder that was expected.
    """
    if root is None:
        base = os.environ.get(ENV_VAR)
        if not base:
            raise FileNotFoundError(
                f"no data root: pass root=... or set {ENV_VAR} to the folder that holds "
                f"'{subdir}/'")
        root = Path(base) / subdir
    root = Path(root)
    if (root / subdir).is_dir():
        root = root / subdir
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: expected '{root}' (the '{subdir}' data)")
    return root


def require_file(path: Union[str, os.PathLike], what: str = "") -> Path:
    """``path`` as a :class:`Path`; :class:`FileNotFoundError` naming it if absent."""
    path = Path(path)
    if not path.is_file():
        extra = f" ({what})" if what else ""
        raise FileNotFoundError(f"missing data file: expected '{path}'{extra}")
    return path


class STDataset(Dataset):
    r"""A PyG :class:`~torch_geometric.data.Dataset` of :class:`~srnn_pyg.STData`
    windows cut lazily from whole recordings (no copy per window).

    Subclasses fill ``self.recordings`` (each an :class:`STData` holding a whole
    sequence, ``x`` ``[N, T_total, F]``, already normalised), ``self.index``
    (``(recording, start)`` pairs), ``self.schema``, ``obs`` and ``horizon``,
    and the normalisation statistics ``mean``/``std`` (``[F]``, from the
    training split only), then call ``super().__init__(transform=...)``.

    :meth:`denormalize` maps a model's predictions back to the data's units.
    """

    schema: STSchema
    obs: int
    horizon: int

    def __init__(self, transform: Optional[Callable] = None):
        if not hasattr(self, "recordings"):
            self.recordings: List[STData] = []
        if not hasattr(self, "index"):
            self.index: List[Tuple[int, int]] = []
        root = self.__dict__.get("root")          # PyG's Dataset.__init__ overwrites it
        super().__init__(None, transform)
        if root is not None:
            self.root = root

    # PyG's Dataset asks for these; nothing is downloaded or processed on disk.
    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        return []

    def len(self) -> int:
        return len(self.index)

    def get(self, idx: int) -> STData:
        rec, start = self.index[idx]
        return self.recordings[rec].window(start, self.obs, self.horizon)

    # ---------------------------------------------------------- normalising
    mean: Optional[Tensor] = None
    std: Optional[Tensor] = None

    def normalize(self, x: Tensor) -> Tensor:
        """Data units to model units: ``(x - mean) / std`` over the last dim."""
        if self.mean is None:
            return x
        return (x - self.mean.to(x)) / self.std.to(x)

    def denormalize(self, x: Tensor) -> Tensor:
        """Model units back to data units: ``x * std + mean`` over the last dim."""
        if self.mean is None:
            return x
        return x * self.std.to(x) + self.mean.to(x)

    @staticmethod
    def fit_stats(frames: Sequence[Tensor], eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
        """Per-feature mean and std over ``[..., F]`` tensors (the training split);
        a feature that never varies gets std 1."""
        flat = torch.cat([f.reshape(-1, f.size(-1)).double() for f in frames])
        mean, std = flat.mean(0), flat.std(0)
        std = torch.where(std < eps, torch.ones_like(std), std)
        return mean.float(), std.float()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)}, obs={self.obs}, horizon={self.horizon})"
