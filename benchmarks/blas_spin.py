"""What OpenBLAS's idle threads do between products, and what shortening their wait would cost.

    python -m benchmarks.blas_spin                  # OpenBLAS's default wait against OPENBLAS_THREAD_TIMEOUT=4 and 16
    python -m benchmarks.blas_spin --timeouts 4 20

After a product that it ran on several threads, an idle OpenBLAS thread does not sleep: it spins, polling for
the next product, for 2^28 CPU cycles by default (about 0.1 s here), and only then waits on a lock. In a training
step a product comes every few milliseconds, so that thread never sleeps, and it holds a core. chainrule's split
passes (``chainrule/ops/_parallel.py``) hand half their rows to a second Python thread, which then shares a core
with the spinning one. ``OPENBLAS_THREAD_TIMEOUT=n`` (read when OpenBLAS loads, so set before NumPy is imported)
shortens the spin to 2^n cycles; this shows the price: the threads then sleep between, and inside, products,
and waking them makes each product slower.

Each setting runs in its own subprocess. Printed per setting: the CPU time the process used during a 50 ms
sleep right after one product (the spin: ~50 ms while a thread spins, ~0 once it sleeps), and the median time
of products of the benchmark models' shapes, each run after 0.3 ms of single-threaded work (as a product
follows other ops in a training step).
"""
import argparse
import json
import os
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import REPO_ROOT  # noqa: E402

# (rows, inner, columns) of products the workloads run: W7's attention input and MLP output projections, W9's
# 9216 -> 128 layer, W8's decoder and its LSTM's recurrent product.
SHAPES = [(768, 128, 384), (768, 512, 128), (64, 9216, 128), (700, 200, 2000), (20, 200, 800)]


def child():
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in ((768, 512), (512, 512)))
    a @ b
    time.sleep(0.3)
    a @ b
    start = time.process_time()
    time.sleep(0.05)
    spin = time.process_time() - start
    work = rng.standard_normal(1 << 18).astype(np.float32)
    products = {}
    for m, k, n in SHAPES:
        x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
        out = np.empty((m, n), np.float32)
        times = []
        for _ in range(40):
            np.exp(work)
            start = time.perf_counter()
            np.matmul(x, w, out=out)
            times.append(time.perf_counter() - start)
        products[f"{m}x{k}x{n}"] = sorted(times)[len(times) // 2]
    print(json.dumps({"spin": spin, "products": products}))


def measure(timeout):
    env = dict(os.environ)
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    if timeout is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = str(timeout)
    out = subprocess.run([sys.executable, "-m", "benchmarks.blas_spin", "--child"], env=env, capture_output=True,
                         text=True, timeout=600, check=True, cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=int, nargs="*", default=[4, 16],
                        help="OPENBLAS_THREAD_TIMEOUT values to compare with the default")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child()
    settings = [None] + args.timeouts
    results = [measure(t) for t in settings]
    names = ["default"] + [f"OPENBLAS_THREAD_TIMEOUT={t}" for t in args.timeouts]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| CPU ms used in a 50 ms sleep after a product | "
          + " | ".join(f"{r['spin'] * 1e3:.1f}" for r in results) + " |")
    for shape in results[0]["products"]:
        print(f"| product {shape}, ms | " + " | ".join(f"{r['products'][shape] * 1e3:.3f}" for r in results) + " |")


if __name__ == "__main__":
    main()
