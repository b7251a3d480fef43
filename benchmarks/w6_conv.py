"""W6 conv: one Conv2d forward and backward, batch 64, 32→64 channels, 16×16 images, 3×3 kernel, padding 1.

The lib version calls ``nn.functional.conv2d(x, w, b, padding=1)`` and back-propagates a fixed random
upstream gradient ``g`` through ``(out * g).sum()``, computing the gradients of the input, the weight
and the bias. The NumPy column is an im2col + matmul convolution with its hand-written backward
(col2im by accumulating the 9 kernel offsets). Reported per forward+backward, with GFLOP/s counted
from the three matmuls (forward, weight gradient, input gradient: 2·N·H·W·Cout·Cin·9 each).
"""
import numpy as np

from benchmarks.harness import Workload, observe

N, C_IN, C_OUT, H, W, K, PAD = 64, 32, 64, 16, 16, 3, 1


def tensors(batch):
    rng = np.random.RandomState(3)
    bound = 1 / np.sqrt(C_IN * K * K)
    x = rng.randn(batch, C_IN, H, W).astype(np.float32)
    w = rng.uniform(-bound, bound, (C_OUT, C_IN, K, K)).astype(np.float32)
    b = rng.uniform(-bound, bound, C_OUT).astype(np.float32)
    g = rng.randn(batch, C_OUT, H, W).astype(np.float32)
    return x, w, b, g


def lib_run(lib, batch, passes):
    x_np, w_np, b_np, g_np = tensors(batch)
    conv2d = lib.nn.functional.conv2d
    x, w, b = (lib.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    g = lib.tensor(g_np)

    def run():
        for _ in range(passes):
            x.grad = w.grad = b.grad = None
            loss = (conv2d(x, w, b, padding=PAD) * g).sum()
            loss.backward()
        return observe(loss, x.grad, w.grad, b.grad)

    return run


def im2col(x_padded, h, w):
    """(N, C, H+2p, W+2p) → (N, C·K·K, H·W): row (c, ki, kj) holds that kernel tap for every pixel.

    Channels-first, so ``weight (C_out, C·K·K) @ cols`` is already (N, C_out, H·W), i.e. NCHW.
    """
    n, c = x_padded.shape[:2]
    s = x_padded.strides
    windows = np.lib.stride_tricks.as_strided(
        x_padded, (n, c, K, K, h, w), (s[0], s[1], s[2], s[3], s[2], s[3]), writeable=False)
    return windows.reshape(n, c * K * K, h * w)  # one copy


def numpy_run(batch, passes):
    x, w, b, g = tensors(batch)
    w_mat = w.reshape(C_OUT, -1)
    g_rows = g.reshape(batch, C_OUT, H * W)

    def run():
        for _ in range(passes):
            # forward
            x_padded = np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
            cols = im2col(x_padded, H, W)
            out = (w_mat @ cols + b[:, None]).reshape(batch, C_OUT, H, W)
            loss = (out * g).sum()
            # backward: d loss / d out = g
            grad_w = np.einsum("nol,nkl->ok", g_rows, cols, optimize=True).reshape(w.shape)
            grad_b = g_rows.sum(axis=(0, 2))
            grad_cols = (w_mat.T @ g_rows).reshape(batch, C_IN, K, K, H, W)
            grad_padded = np.zeros_like(x_padded)
            for ki in range(K):  # col2im: add each kernel tap back where it was read from
                for kj in range(K):
                    grad_padded[:, :, ki:ki + H, kj:kj + W] += grad_cols[:, :, ki, kj]
            grad_x = grad_padded[:, :, PAD:PAD + H, PAD:PAD + W]
        return observe(loss, grad_x, grad_w, grad_b)

    return run


def gflops(config, seconds_per_pass):
    flops = 3 * 2 * config["batch"] * H * W * C_OUT * C_IN * K * K
    return {impl: f"{flops / s / 1e9:.1f} GFLOP/s" for impl, s in seconds_per_pass.items()}


WORKLOAD = Workload(
    key="W6", name="conv", title="Conv2d 32→64, 3×3, pad 1, batch 64, 16×16, fwd+bwd",
    unit="ms/pass", unit_scale=1e3,
    config=lambda quick: {"batch": N, "passes": 1 if quick else 5},
    check_config={"batch": 4, "passes": 1},
    units=lambda cfg: cfg["passes"],
    lib_factory=lib_run, numpy_factory=numpy_run,
    needs=("tensor", "nn.functional.conv2d"),
    rtol=1e-3, atol=1e-3,  # the loss sums 4·64·256 products; gradients are sums over 288 or more terms
    notes=gflops,
    module=__name__,
)
