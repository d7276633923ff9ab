#!/usr/bin/python3
"""The chapter's small MLP gradient step (5 -> 30 elu -> 1, batch 32, MAE + l2) in kiln
(bench/autodiff_bench.cc: eager tape and compiled) beside PyTorch eager autograd from Python and,
when bench/libtorch_bench.cc has been built (`ninja bench_peers`), from libtorch C++, in one
run, medians; and the tape's recording overhead per op.

Usage: /usr/bin/python3 bench/compare_autodiff.py [--kiln-bench build/bin/kiln_bench]
           [--libtorch-bench build/bin/libtorch_bench]
"""
import argparse
import json
import os
import subprocess
import sys

from compare import faster, libtorch_bench, median_ms


def torch_mlp_grad_us():
    import numpy as np
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    def t(shape, scale, grad=False):
        return torch.tensor((rng.standard_normal(shape) * scale).astype(np.float32),
                            requires_grad=grad)

    x, y = t((32, 5), 1.0), t((32, 1), 1.0)
    w1, w2 = t((5, 30), 0.45, True), t((30, 1), 0.25, True)
    b1 = torch.zeros(30, requires_grad=True)
    b2 = torch.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    def step():
        h = torch.nn.functional.elu(x @ w1 + b1)
        pred = h @ w2 + b2
        loss = (y - pred).abs().mean() + 0.05 * ((w1 * w1).sum() + (w2 * w2).sum())
        return torch.autograd.grad(loss, params)

    return median_ms(step, reps=2000, warmup=50) * 1e3


def kiln_results(bench):
    out = subprocess.run(
        [bench, "--benchmark_filter=Add2x3x64|MlpGrad", "--benchmark_repetitions=5",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            unit = {"ms": 1e3, "us": 1, "ns": 1e-3}[b["time_unit"]]
            res[b["run_name"].replace("BM_", "")] = b["real_time"] * unit
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln-bench", default="build/bin/kiln_bench")
    ap.add_argument("--libtorch-bench", default="build/bin/libtorch_bench",
                    help="bench/libtorch_bench.cc's binary; its row is left out if it is missing")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    k = kiln_results(args.kiln_bench)
    torch_us = torch_mlp_grad_us()
    # Wall time, as for kiln's rows.
    lt = libtorch_bench(args.libtorch_bench, "MlpGrad").get("BM_MlpGradEager")
    print("MLP gradient step (5->30 elu->1, batch 32, MAE + l2), 1 thread, medians")
    print(f"{'implementation':34s} {'us/step':>9s} {'kiln compiled is':>18s}")
    ref = k["MlpGradCompiled"]
    rows = [("kiln compiled", ref), ("kiln eager tape", k["MlpGradEager"]),
            ("PyTorch eager autograd (Python)", torch_us)]
    if lt:
        rows.append(("libtorch C++ autograd", lt[1] * 1e3))
    for name, us in rows:
        ratio = "-" if name == "kiln compiled" else faster(us, ref)
        print(f"{name:34s} {us:9.2f} {ratio:>18s}")
    if "MlpGradFirstCall" in k:
        print(f"first call (trace + passes + LLVM + JIT): {k['MlpGradFirstCall'] / 1e3:.1f} ms")
    per_op = k["EagerAdd2x3x64"] / 64 * 1e3
    taped = k["TapedAdd2x3x64"] / 64 * 1e3
    print(f"tape overhead: 2x3 add {per_op:.0f} ns eager, {taped:.0f} ns recorded "
          f"(+{taped - per_op:.0f} ns = {(taped - per_op) / per_op:.2f}x the op's own cost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
