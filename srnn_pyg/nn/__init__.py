"""Building blocks of S-RNN: the S-RNN layer with its explicit state, the
shared recurrent unit, edge features, output heads and input checks."""
from .checks import check_graph_inputs
from .feedback import Feedback
from .features import (SPATIAL_FEATURES, TEMPORAL_FEATURES, spatial_channels, spatial_features,
                       temporal_channels, temporal_features)
from .graph_steps import cheb_steps, step_edge_weight
from .heads import DeterministicHead, GaussianHead, Head, LogitsHead, build_head, head_of
from .peephole import PeepholeLSTM
from .rnn_block import LSTMState, RNNBlock
from .srnn_layer import GraphLayout, SRNNLayer, SRNNState

__all__ = ["SRNNLayer", "SRNNState", "GraphLayout", "RNNBlock", "LSTMState", "PeepholeLSTM", "Head",
           "DeterministicHead", "GaussianHead", "LogitsHead", "build_head", "head_of", "SPATIAL_FEATURES",
           "TEMPORAL_FEATURES", "spatial_channels", "temporal_channels", "spatial_features", "temporal_features",
           "check_graph_inputs", "cheb_steps", "step_edge_weight", "Feedback"]
