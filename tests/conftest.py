"""Suite-wide settings. On CUDA, the tests compare float32 computations with
float32 references at atol 1e-5: TF32 (cuDNN's default for convolutions and
RNNs on Ampere and newer GPUs) rounds matrix inputs to 10 mantissa bits and
would differ by about 1e-3, so it is turned off for the tests."""
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
