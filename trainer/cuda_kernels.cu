// CUDA kernels (placeholder)
