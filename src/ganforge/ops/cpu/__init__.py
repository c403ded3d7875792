"""CPU fast paths: per-pass convolutions, Toom-Cook transforms, fused C++ kernels, the layer swaps."""
