"""Building blocks of S-RNN: the shared recurrent unit and the edge features."""
from .features import (SPATIAL_FEATURES, TEMPORAL_FEATURES, spatial_channels, spatial_features,
                       temporal_channels, temporal_features)
from .rnn_block import LSTMState, RNNBlock

__all__ = ["RNNBlock", "LSTMState", "SPATIAL_FEATURES", "TEMPORAL_FEATURES", "spatial_channels",
           "temporal_channels", "spatial_features", "temporal_features"]
