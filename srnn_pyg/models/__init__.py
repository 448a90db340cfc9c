"""Models: :class:`StructuralRNN` and the baselines, all :class:`Forecaster`."""
from .base import Forecaster
from .constant_velocity import ConstantVelocity
from .erd import ERD
from .gconv_gru import GConvGRU
from .linear_ar import LinearAR
from .lstm3lr import LSTM3LR
from .node_lstm import NodeLSTM
from .registry import available, build, get, register
from .seasonal import SeasonalMean
from .skeleton_stgcn import SkeletonSTGCN
from .srnn import StructuralRNN
from .stgcn import STGCN
from .zero_velocity import ZeroVelocity

__all__ = [
    "Forecaster",
    "ConstantVelocity",
    "ERD",
    "GConvGRU",
    "LinearAR",
    "LSTM3LR",
    "NodeLSTM",
    "SeasonalMean",
    "SkeletonSTGCN",
    "STGCN",
    "StructuralRNN",
    "ZeroVelocity",
    "build",
    "available",
    "get",
    "register",
]
