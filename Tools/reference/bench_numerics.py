"""PyTorch side of `influence-bench numerics`: the same GEMM shapes and eigendecompositions,
one thread, best of several runs. Run both in one session to compare:

    swift run -c release influence-bench numerics
    python3 Tools/reference/bench_numerics.py
"""
import time

import torch

torch.set_num_threads(1)


def best_time(fn, repetitions):
    fn()
    best = float("inf")
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


print("GEMM, one thread (GFLOP/s; best of 5)")
print(f"{'shape m×k×n':22}{'torch f32':14}torch f64")
for m, k, n in [(512, 512, 512), (1024, 1024, 1024), (512, 768, 3072), (512, 3072, 768), (512, 64, 512), (128, 256, 1024)]:
    a, b = torch.randn(m, k), torch.randn(k, n)
    flops = 2.0 * m * k * n
    f32 = best_time(lambda: a @ b, 5)
    ad, bd = a.double(), b.double()
    f64 = best_time(lambda: ad @ bd, 3)
    print(f"{f'{m}×{k}×{n}':22}{flops / f32 / 1e9:<14.1f}{flops / f64 / 1e9:.1f}")

print("\nSymmetric eigendecomposition, torch.linalg.eigh Float64, one thread (seconds; best of 3)")
for n in [256, 512, 1024, 2048]:
    x = torch.randn(n, n, dtype=torch.float64)
    m = x @ x.T
    seconds = best_time(lambda: torch.linalg.eigh(m), 1 if n >= 2048 else 3)
    print(f"{f'n = {n}':12}{seconds:.3f} s")
