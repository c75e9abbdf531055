/*
 * elementwise.cu — the first CUDA kernels of the cuda backend: bias + ReLU
 * epilogues on NCHW float tensors. Compiled whenever nvcc is present so the
 * CUDA code keeps building on machines without a GPU; the cuda backend that
 * launches them arrives with the GPU issue.
 *
 * Every launcher takes a stream and returns cudaError_t (the backend turns it
 * into a kiln_status).
 */
#include <cuda_runtime.h>
#include <stdint.h>

/* y[n,c,i] = max(x[n,c,i] + bias[c], 0) if relu, else x + bias. */
__global__ static void bias_act_kernel(const float *x, const float *bias, float *y, int64_t c,
                                       int64_t hw, int64_t total, int relu) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (; i < total; i += stride) {
        float v = x[i] + (bias ? bias[(i / hw) % c] : 0.0f);
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

extern "C" cudaError_t kiln_cuda_bias_act(const float *x, const float *bias, float *y, int64_t n,
                                          int64_t c, int64_t hw, int relu, cudaStream_t stream) {
    int64_t total = n * c * hw;
    if (total <= 0) return cudaSuccess;
    int threads = 256;
    int64_t blocks = (total + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    bias_act_kernel<<<(unsigned)blocks, threads, 0, stream>>>(x, bias, y, c, hw, total, relu);
    return cudaGetLastError();
}
