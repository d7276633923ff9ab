#!/usr/bin/python3
"""Runs the Huber loss benchmark in kiln (bench/huber_bench.cc) and the same work in NumPy and
PyTorch in one run, and prints medians side by side with ratios; then the same for the Huber
loss reduced to its mean (with the fraction of the STREAM copy bandwidth kiln reaches) and the
10-op chain (bench/chain_bench.cc), with KILN_NUM_THREADS = --threads; then a 1024x1024
float32 matmul, a large eager add (bench/kernels_bench.cc) and a 2x3 eager add with its
allocation (bench/eager_bench.cc), at 1 and 2 threads where threads apply. When the optional
libtorch C++ benchmark (bench/libtorch_bench.cc, `ninja bench_peers`) has been built, its
numbers are printed as "libtorch C++" rows beside the others.

Usage: /usr/bin/python3 bench/compare.py [--kiln-bench build/bin/kiln_bench]
           [--libtorch-bench build/bin/libtorch_bench] [--threads 1] [--matmul ROUNDS]
--matmul ROUNDS prints only the matmul comparison, kiln_bench and libtorch_bench run by turns.
--mlp prints only the MLP comparison (bench/mlp_bench.cc: a 1024^3 dense relu layer, the
chapter's Nadam step, a 784-256-256-10 Adam step) beside PyTorch eager, libtorch C++ and, for the
chapter step, a hand-written NumPy step, at 1 and 2 threads.
--first-call RUNS prints only the first call of the README training step in fresh processes:
kiln (build/bin/kiln_warm_start, per phase) beside torch.jit.trace.
Needs Debian's python3-numpy and python3-torch (scripts/setup.sh --peers installs them).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def median_ms(fn, reps=15, warmup=2, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times) * 1e3


def peers(n, threads):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(n) * 1.5).astype(np.float32)
    p = (rng.standard_normal(n) * 1.5).astype(np.float32)

    def huber_np():
        e = y - p
        a = np.abs(e)
        return np.where(a < 1, np.square(e) / 2, a - 0.5)

    ty, tp = torch.from_numpy(y), torch.from_numpy(p)

    def huber_torch():
        e = ty - tp
        a = torch.abs(e)
        return torch.where(a < 1, torch.square(e) / 2, a - 0.5)

    torch._C._jit_set_texpr_fuser_enabled(False)
    torch._C._jit_override_can_fuse_on_cpu(True)
    scripted = torch.jit.script(huber_torch_script)
    for _ in range(3):  # profiling runs before the fuser kicks in
        scripted(ty, tp)
    scripted_mean = torch.jit.script(huber_mean_torch_script)
    for _ in range(3):
        scripted_mean(ty, tp)
    # The chain of 10 elementwise ops of bench/chain_bench.cc, on its own inputs.
    cx = (rng.standard_normal(n) * 2).astype(np.float32)
    cy = (rng.standard_normal(n) * 2).astype(np.float32)

    def chain_np():
        return np.maximum(np.tanh(cx * np.float32(0.5) + cy) * np.exp(-np.abs(cx))
                          - cy * np.float32(0.25), np.float32(0))

    tcx, tcy = torch.from_numpy(cx), torch.from_numpy(cy)
    chain_scripted = torch.jit.script(chain_torch)
    for _ in range(3):
        chain_scripted(tcx, tcy)
    return {
        "NumPy": median_ms(huber_np),
        "PyTorch eager": median_ms(huber_torch),
        "TorchScript (fused)": median_ms(lambda: scripted(ty, tp)),
        "mean NumPy": median_ms(lambda: np.mean(huber_np())),
        "mean PyTorch eager": median_ms(lambda: huber_torch().mean()),
        "mean TorchScript (fused)": median_ms(lambda: scripted_mean(ty, tp)),
        "chain NumPy": median_ms(chain_np),
        "chain PyTorch eager": median_ms(lambda: chain_torch(tcx, tcy)),
        "chain TorchScript (fused)": median_ms(lambda: chain_scripted(tcx, tcy)),
    }


# With glibc's default malloc, peers that free and re-allocate large buffers every call pay
# first-touch page faults (very expensive on this VM). Measure them both ways, keep the better.
NO_TRIM = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"


def best_peers(n, threads):
    best = {}
    for tunables in (None, NO_TRIM):
        env = dict(os.environ)
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        out = subprocess.run([sys.executable, __file__, "--peers-only", "--n", str(n),
                              "--threads", str(threads)],
                             check=True, capture_output=True, text=True, env=env).stdout
        for name, ms in json.loads(out.strip().splitlines()[-1]).items():
            best[name] = min(ms, best.get(name, float("inf")))
    return best


def libtorch_bench(path, bench_filter):
    """Medians from bench/libtorch_bench.cc for the benchmarks matching bench_filter, or {} when
    the binary was not built: name -> (ms, wall ms), where ms is the time kiln_bench reports for
    the same benchmark (wall time for threaded and Huber runs, CPU time for one-thread kernels).
    As for the Python peers, the better of default malloc and NO_TRIM is kept."""
    if not path or not os.path.exists(path):
        return {}
    best = {}
    for tunables in (None, NO_TRIM):
        env = dict(os.environ)
        # The binary sets libtorch's and OpenBLAS's thread counts itself, per benchmark.
        for var in ("GLIBC_TUNABLES", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.pop(var, None)
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        out = subprocess.run([path, f"--benchmark_filter={bench_filter}",
                              "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                              "--benchmark_format=json"],
                             check=True, capture_output=True, text=True, env=env).stdout
        for b in json.loads(out)["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            unit = {"ms": 1, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
            run = b["run_name"]
            wall = b["real_time"] * unit
            ms = b["cpu_time"] * unit if run.endswith("/process_time") else wall
            name = run.replace("/real_time", "").replace("/process_time", "")
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(ms, old[0]), min(wall, old[1]))
    return best


def faster(ms, ref):
    """The ratio column: how many times faster the reference (kiln) is than a row."""
    return f"{ms / ref:.2f}x faster" if ref else "-"


def peers_kernels(threads):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)
    b = rng.uniform(-1, 1, (1024, 1024)).astype(np.float32)
    x = rng.uniform(-1, 1, 1 << 24).astype(np.float32)
    y = rng.uniform(-1, 1, 1 << 24).astype(np.float32)
    s = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    ta, tb, tx, ty, ts = (torch.from_numpy(v) for v in (a, b, x, y, s))
    # As kiln's single-thread numbers: CPU time on one thread, wall time on more.
    clock = time.process_time if threads == 1 else time.perf_counter
    res = {
        "matmul NumPy": median_ms(lambda: a @ b, reps=9, clock=clock),
        "matmul PyTorch": median_ms(lambda: ta @ tb, reps=9, clock=clock),
        "add16M NumPy": median_ms(lambda: x + y, reps=9, clock=clock),
        "add16M PyTorch": median_ms(lambda: tx + ty, reps=9, clock=clock),
    }
    reps = 20000
    for name, fn in (("add2x3 NumPy", lambda: s + s), ("add2x3 PyTorch", lambda: ts + ts)):
        res[name] = median_ms(lambda: [fn() for _ in range(reps)], reps=7, clock=clock) / reps
    return res


def best_peers_kernels(threads):
    best = {}
    for tunables in (None, NO_TRIM):
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        out = subprocess.run([sys.executable, __file__, "--kernel-peers-only", "--threads",
                              str(threads)], check=True, capture_output=True, text=True,
                             env=env).stdout
        for name, ms in json.loads(out.strip().splitlines()[-1]).items():
            best[name] = min(ms, best.get(name, float("inf")))
    return best


def kiln_kernels(bench):
    out = subprocess.run(
        [bench, "--benchmark_filter=FmaPeak|Matmul/1024|EagerAdd|StreamTriad",
         "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        unit = {"ms": 1, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
        # Single-thread runs report CPU time, threaded ones wall time (bench/kernels_bench.cc).
        name = b["run_name"].replace("/real_time", "")
        t = b["real_time"] if b["run_name"].endswith("/real_time") else b["cpu_time"]
        res[name] = (t * unit, b)
    return res


def compare_kernels(bench, libtorch):
    k = kiln_kernels(bench)
    lt = libtorch_bench(libtorch, "EagerAdd|Matmul")
    lt_ms = {name: v[0] for name, v in lt.items()}
    peak = k.get("BM_FmaPeak", (None, {}))[1].get("FLOPS")
    flop = 2 * 1024 ** 3
    print()
    if peak:
        print(f"FMA peak, one core (AVX2 loop): {peak / 1e9:.1f} GFLOP/s")
    print(f"{'1024x1024 float32 matmul':28s} {'threads':>7s} {'ms':>9s} {'GFLOP/s':>8s} "
          f"{'% of peak':>9s} {'kiln is':>13s}")
    for threads in (1, 2):
        p = best_peers_kernels(threads)
        ref = k.get(f"BM_Matmul/1024/{threads}", (None,))[0]
        rows = [("kiln", ref),
                ("NumPy", p["matmul NumPy"] if threads == 1 else None),
                ("PyTorch", p["matmul PyTorch"]),
                ("libtorch C++", lt_ms.get(f"BM_Matmul/1024/{threads}"))]
        for name, ms in rows:
            if ms is None:
                continue
            gf = flop / (ms / 1e3) / 1e9
            pct = f"{100 * gf * 1e9 / peak:.0f}" if peak and threads == 1 else "-"
            ratio = faster(ms, ref) if name != "kiln" else "-"
            print(f"{name:28s} {threads:7d} {ms:9.2f} {gf:8.1f} {pct:>9s} {ratio:>13s}")
        ref = k.get(f"BM_EagerAdd/16777216/{threads}", (None,))[0]
        add = [("kiln eager", ref),
               ("STREAM triad", k.get(f"BM_StreamTriad/16777216/{threads}", (None,))[0]),
               ("NumPy", p["add16M NumPy"] if threads == 1 else None),
               ("PyTorch", p["add16M PyTorch"]),
               ("libtorch C++", lt_ms.get(f"BM_EagerAdd/16777216/{threads}"))]
        print(f"{'add of 2 x 16M float32':28s} {threads:7d} {'ms':>9s} {'GB/s':>8s} {'':9s} "
              f"{'kiln eager is':>13s}")
        for name, ms in add:
            if ms is not None:
                ratio = faster(ms, ref) if name != "kiln eager" else "-"
                print(f"  {name:26s} {'':7s} {ms:9.2f} {12 * (1 << 24) / (ms / 1e3) / 1e9:8.1f} "
                      f"{'':9s} {ratio:>13s}")
        if threads == 1:
            small = p
    e = subprocess.run([bench, "--benchmark_filter=EagerAdd2x3", "--benchmark_repetitions=5",
                        "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                       check=True, capture_output=True, text=True).stdout
    eager = [b["cpu_time"] for b in json.loads(e)["benchmarks"]
             if b.get("aggregate_name") == "median"]
    ref = eager[0] if eager else None
    print(f"{'2x3 float32 add + allocation':28s} {'ns':>9s} {'kiln eager is':>14s}   (CPU time)")
    rows = [("kiln eager", ref),
            ("NumPy (Python)", small["add2x3 NumPy"] * 1e6),
            ("PyTorch (Python)", small["add2x3 PyTorch"] * 1e6)]
    if "BM_EagerAdd2x3" in lt_ms:
        rows.append(("libtorch C++", lt_ms["BM_EagerAdd2x3"] * 1e6))
    for name, ns in rows:
        if ns is not None:
            ratio = faster(ns, ref) if name != "kiln eager" else "-"
            print(f"  {name:26s} {ns:9.0f} {ratio:>14s}")


def repetitions(path, bench_filter, reps, env=None):
    """Every repetition's time of the benchmarks matching bench_filter: name -> [ms, ...], with
    CPU time for one-thread runs and wall time for threaded ones (as both binaries report them),
    and GFLOP/s for BM_FmaPeak."""
    out = subprocess.run([path, f"--benchmark_filter={bench_filter}",
                          f"--benchmark_repetitions={reps}", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        run = b["run_name"]
        if run == "BM_FmaPeak":
            res.setdefault(run, []).append(b["FLOPS"] / 1e9)
            continue
        unit = {"ms": 1, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
        t = b["real_time"] if run.endswith("/real_time") else b["cpu_time"]
        name = run.replace("/real_time", "").replace("/process_time", "")
        res.setdefault(name, []).append(t * unit)
    return res


def compare_matmul(bench, libtorch, rounds):
    """1024x1024 float32 matmul only: kiln_bench and libtorch_bench run by turns, `rounds` times
    (3 repetitions each), so that load from other processes hits both alike; medians of all
    repetitions, beside the FMA peak, kiln's gemm_f32 and OpenBLAS's sgemm called directly, from
    the same runs; then the MLP's smaller products, gemm_f32 against OpenBLAS."""
    env = dict(os.environ)
    for var in ("GLIBC_TUNABLES", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(var, None)
    have_torch = bool(libtorch) and os.path.exists(libtorch)
    k, lt = {}, {}
    for _ in range(rounds):
        for name, v in repetitions(bench, "FmaPeak|BM_Matmul/1024|SgemmDirect|GemmDirect",
                                   3).items():
            k.setdefault(name, []).extend(v)
        if have_torch:
            for name, v in repetitions(libtorch, "BM_Matmul/1024", 3, env).items():
                lt.setdefault(name, []).extend(v)
    med = {name: statistics.median(v) for name, v in k.items()}
    lt_med = {name: statistics.median(v) for name, v in lt.items()}
    peak = med.get("BM_FmaPeak")
    flop = 2 * 1024 ** 3
    print(f"1024x1024 float32 matmul, medians of {3 * rounds} repetitions taken by turns "
          "(one thread: CPU time; two: wall time)")
    if peak:
        print(f"FMA peak, one core (AVX2 loop): {peak:.1f} GFLOP/s")
    print(f"{'implementation':28s} {'threads':>7s} {'ms':>9s} {'GFLOP/s':>8s} {'% of peak':>9s} "
          f"{'kiln is':>13s}")
    for threads in (1, 2):
        ref = med.get(f"BM_Matmul/1024/{threads}")
        rows = [("kiln", ref), ("libtorch C++", lt_med.get(f"BM_Matmul/1024/{threads}"))]
        if threads == 1:
            rows.append(("gemm_f32 alone", med.get("BM_GemmDirect/1024/1024/1024")))
            rows.append(("OpenBLAS sgemm alone", med.get("BM_SgemmDirect/1024/1024/1024")))
        for name, ms in rows:
            if ms is None:
                continue
            gf = flop / (ms / 1e3) / 1e9
            pct = f"{100 * gf / peak:.0f}" if peak and threads == 1 else "-"
            ratio = faster(ms, ref) if name != "kiln" else "-"
            print(f"{name:28s} {threads:7d} {ms:9.2f} {gf:8.1f} {pct:>9s} {ratio:>13s}")
    print(f"\n{'one thread, m x k x n':28s} {'gemm_f32 us':>11s} {'OpenBLAS us':>11s} "
          f"{'gemm_f32 is':>13s}")
    for shape in ("128/784/256", "784/128/256", "128/256/256"):
        ours, blas = med.get(f"BM_GemmDirect/{shape}"), med.get(f"BM_SgemmDirect/{shape}")
        if ours is None or blas is None:
            continue
        print(f"{shape.replace('/', ' x '):28s} {ours * 1e3:11.1f} {blas * 1e3:11.1f} "
              f"{faster(blas, ours):>13s}")


# --- --mlp: bench/mlp_bench.cc beside PyTorch eager, libtorch C++ and hand-written NumPy -------

def peers_mlp(threads):
    """Medians in ms of the MLP work in PyTorch eager (and NumPy for the chapter step), in this
    process, at `threads` threads."""
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    f32 = np.float32
    rng = np.random.default_rng(0)

    def randn(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(f32)

    res = {}
    x, w, b = (torch.from_numpy(randn((1024, 1024), 1.0)),
               torch.from_numpy(randn((1024, 1024), 0.03)), torch.from_numpy(randn(1024, 1.0)))
    res["DenseRelu addmm"] = median_ms(lambda: torch.relu(torch.addmm(b, x, w)), reps=11)
    res["DenseRelu 3-op"] = median_ms(lambda: torch.relu(x @ w + b), reps=11)

    # The chapter's MLP and Nadam step (bench/mlp_bench.cc), PyTorch eager autograd.
    cx, cy = randn((32, 5), 1.0), randn((32, 1), 1.0)
    cw1, cw2 = randn((5, 30), 0.45), randn((30, 1), 0.25)
    tx, ty = torch.from_numpy(cx), torch.from_numpy(cy)
    tparams = [torch.from_numpy(cw1.copy()).requires_grad_(), torch.zeros(30, requires_grad=True),
               torch.from_numpy(cw2.copy()).requires_grad_(), torch.zeros(1, requires_grad=True)]
    tm = [torch.zeros_like(p) for p in tparams]
    tv = [torch.zeros_like(p) for p in tparams]
    tstate = {"t": torch.zeros(()), "mu_product": torch.ones(())}
    lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-7

    def torch_chapter():
        w1_, b1_, w2_, b2_ = tparams
        h = torch.nn.functional.elu(tx @ w1_ + b1_)
        pred = h @ w2_ + b2_
        loss = (ty - pred).abs().mean() + 0.05 * ((w1_ * w1_).sum() + (w2_ * w2_).sum())
        g = torch.autograd.grad(loss, tparams)
        with torch.no_grad():
            t = tstate["t"].add_(1)
            mu = b1 * (1 - 0.5 * torch.pow(0.96, t * 0.004))
            mu_next = b1 * (1 - 0.5 * torch.pow(0.96, (t + 1) * 0.004))
            mp = tstate["mu_product"].mul_(mu)
            bias2 = 1 - torch.pow(b2, t)
            c_grad = lr * (1 - mu) / (1 - mp)
            c_m = lr * mu_next / (1 - mp * mu_next)
            for p, m, v, gi in zip(tparams, tm, tv, g):
                m.copy_(b1 * m + (1 - b1) * gi)
                v.copy_(b2 * v + (1 - b2) * gi * gi)
                denom = torch.sqrt(v / bias2) + eps
                p.sub_(c_grad * gi / denom + c_m * m / denom)
        return loss

    res["ChapterNadamStep PyTorch"] = median_ms(torch_chapter, reps=3000, warmup=100)

    # The same step in NumPy, backward written by hand, float32 throughout.
    nparams = [cw1.copy(), np.zeros(30, f32), cw2.copy(), np.zeros(1, f32)]
    nm = [np.zeros_like(p) for p in nparams]
    nv = [np.zeros_like(p) for p in nparams]
    nstate = {"t": f32(0), "mu_product": f32(1)}
    n = f32(cx.shape[0])

    def numpy_chapter():
        w1_, b1_, w2_, b2_ = nparams
        z = cx @ w1_ + b1_
        h = np.where(z > 0, z, np.expm1(z))
        pred = h @ w2_ + b2_
        r = cy - pred
        loss = np.abs(r).mean() + f32(0.05) * (np.sum(w1_ * w1_) + np.sum(w2_ * w2_))
        dpred = -np.sign(r) / n
        dh = dpred @ w2_.T
        dz = np.where(z > 0, dh, dh * (h + f32(1)))
        g = [cx.T @ dz + f32(0.1) * w1_, dz.sum(0), h.T @ dpred + f32(0.1) * w2_, dpred.sum(0)]
        t = nstate["t"] = nstate["t"] + f32(1)
        mu = f32(b1) * (f32(1) - f32(0.5) * np.power(f32(0.96), t * f32(0.004)))
        mu_next = f32(b1) * (f32(1) - f32(0.5) * np.power(f32(0.96), (t + f32(1)) * f32(0.004)))
        mp = nstate["mu_product"] = nstate["mu_product"] * mu
        bias2 = f32(1) - np.power(f32(b2), t)
        c_grad = f32(lr) * (f32(1) - mu) / (f32(1) - mp)
        c_m = f32(lr) * mu_next / (f32(1) - mp * mu_next)
        for p, m, v, gi in zip(nparams, nm, nv, g):
            m[...] = f32(b1) * m + f32(1 - b1) * gi
            v[...] = f32(b2) * v + f32(1 - b2) * gi * gi
            denom = np.sqrt(v / bias2) + f32(eps)
            p -= c_grad * gi / denom + c_m * m / denom
        return loss

    res["ChapterNadamStep NumPy"] = median_ms(numpy_chapter, reps=3000, warmup=100)

    # 784 -> 256 -> 256 -> 10, softmax cross-entropy, batch 128, Adam; PyTorch eager autograd.
    mx = torch.from_numpy(randn((128, 784), 1.0))
    labels = rng.integers(0, 10, 128)
    my = torch.nn.functional.one_hot(torch.from_numpy(labels), 10).float()
    mparams = [torch.from_numpy(randn((784, 256), 0.05)), torch.zeros(256),
               torch.from_numpy(randn((256, 256), 0.088)), torch.zeros(256),
               torch.from_numpy(randn((256, 10), 0.088)), torch.zeros(10)]
    for p in mparams:
        p.requires_grad_()
    mm_ = [torch.zeros_like(p) for p in mparams]
    mv_ = [torch.zeros_like(p) for p in mparams]
    mstate = {"t": torch.zeros(())}
    alr, ab1, ab2, aeps = 0.001, 0.9, 0.999, 1e-8

    def torch_mnist():
        h1 = torch.relu(torch.addmm(mparams[1], mx, mparams[0]))
        h2 = torch.relu(torch.addmm(mparams[3], h1, mparams[2]))
        logits = torch.addmm(mparams[5], h2, mparams[4])
        loss = -(my * torch.log_softmax(logits, 1)).sum(1).mean()
        g = torch.autograd.grad(loss, mparams)
        with torch.no_grad():
            t = mstate["t"].add_(1)
            step_size = alr / (1 - torch.pow(ab1, t))
            root_bias2 = torch.sqrt(1 - torch.pow(ab2, t))
            for p, m, v, gi in zip(mparams, mm_, mv_, g):
                m.copy_(ab1 * m + (1 - ab1) * gi)
                v.copy_(ab2 * v + (1 - ab2) * gi * gi)
                p.sub_(step_size * m / (torch.sqrt(v) / root_bias2 + aeps))
        return loss

    res["MnistAdamStep PyTorch"] = median_ms(torch_mnist, reps=201, warmup=5)
    return res


def best_peers_mlp(threads):
    best = {}
    for tunables in (None, NO_TRIM):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        out = subprocess.run([sys.executable, __file__, "--mlp-peers-only",
                              "--threads", str(threads)],
                             check=True, capture_output=True, text=True, env=env).stdout
        for name, ms in json.loads(out.strip().splitlines()[-1]).items():
            best[name] = min(ms, best.get(name, float("inf")))
    return best


def kiln_mlp(bench):
    out = subprocess.run(
        [bench, "--benchmark_filter=DenseRelu|Sgemm1024|ChapterNadam|MnistAdam",
         "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            unit = {"ms": 1, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
            res[b["run_name"].replace("BM_", "").replace("/real_time", "")] = b["real_time"] * unit
    return res


def compare_mlp(bench, libtorch):
    k = kiln_mlp(bench)
    lt = {name.replace("BM_", ""): v[1] for name, v in
          libtorch_bench(libtorch, "DenseRelu|ChapterNadam|MnistAdam").items()}
    p = {t: best_peers_mlp(t) for t in (1, 2)}
    print("MLP benchmarks (bench/mlp_bench.cc), wall-time medians, same run; ratio = how many "
          "times faster kiln compiled is")

    def table(title, ref, rows, unit, flops=None):
        print(f"\n{title}")
        extra = "   GFLOP/s" if flops else ""
        print(f"{'implementation':34s} {unit:>9s} {'kiln compiled is':>18s}{extra}")
        for name, ms in rows:
            if ms is None:
                continue
            scale = 1e3 if unit == "us" else 1
            ratio = "-" if name.startswith("kiln compiled") else faster(ms, ref)
            rate = f"   {flops / (ms / 1e3) / 1e9:8.1f}" if flops else ""
            print(f"{name:34s} {ms * scale:9.2f} {ratio:>18s}{rate}")

    dense_flops = 2.0 * 1024 ** 3
    for t in (1, 2):
        table(f"relu(x @ w + b), 1024x1024x1024 float32, {t} thread(s)", k.get(f"DenseReluCompiled/{t}"),
              [("kiln compiled (fused epilogue)", k.get(f"DenseReluCompiled/{t}")),
               ("kiln eager (3 ops)", k.get(f"DenseReluEager/{t}")),
               ("kiln eager sgemm alone", k.get(f"Sgemm1024Eager/{t}")),
               ("PyTorch relu(addmm)", p[t].get("DenseRelu addmm")),
               ("PyTorch relu(x @ w + b)", p[t].get("DenseRelu 3-op")),
               ("libtorch C++ relu(addmm)", lt.get(f"DenseReluEager/{t}")),
               ("libtorch C++ relu(x @ w + b)", lt.get(f"DenseRelu3OpEager/{t}"))],
              "ms", dense_flops)
    ref = k.get("ChapterNadamStepCompiled/1")
    table("Chapter MLP Nadam training step (5->30 elu->1, batch 32, MAE + l2), 1 thread", ref,
          [("kiln compiled", ref), ("kiln eager", k.get("ChapterNadamStepEager/1")),
           ("PyTorch eager (Python)", p[1].get("ChapterNadamStep PyTorch")),
           ("libtorch C++ eager", lt.get("ChapterNadamStepEager/1")),
           ("NumPy, backward by hand", p[1].get("ChapterNadamStep NumPy"))], "us")
    step_flops = 2.0 * 128 * (784 * 256 * 2 + 256 * 256 * 3 + 256 * 10 * 3)
    for t in (1, 2):
        ref = k.get(f"MnistAdamStepCompiled/{t}")
        table(f"784->256->256->10 relu MLP Adam step (softmax CE, batch 128), {t} thread(s); "
              f"GEMM bound: sgemm 1024^3 at {dense_flops / (k.get(f'Sgemm1024Eager/{t}', 1) / 1e3) / 1e9:.1f} GFLOP/s",
              ref,
              [("kiln compiled", ref), ("kiln eager", k.get(f"MnistAdamStepEager/{t}")),
               ("PyTorch eager (Python)", p[t].get("MnistAdamStep PyTorch")),
               ("libtorch C++ eager", lt.get(f"MnistAdamStepEager/{t}"))], "ms", step_flops)


def huber_torch_script(y, p):
    e = y - p
    a = e.abs()
    return (a < 1).to(e.dtype) * (e * e * 0.5) + (a >= 1).to(e.dtype) * (a - 0.5)


def huber_mean_torch_script(y, p):
    e = y - p
    a = e.abs()
    return ((a < 1).to(e.dtype) * (e * e * 0.5) + (a >= 1).to(e.dtype) * (a - 0.5)).mean()


def chain_torch(x, y):
    return ((x * 0.5 + y).tanh() * (-x.abs()).exp() - y * 0.25).relu()


def kiln(bench, n, threads):
    env = dict(os.environ)
    env["KILN_NUM_THREADS"] = str(threads)  # the compiled loops' and eager kernels' pool
    out = subprocess.run(
        [bench, f"--benchmark_filter=/{n}$", "--benchmark_repetitions=7",
         "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
        check=True, capture_output=True, text=True, env=env).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].split("/")[0].replace("BM_", "")
        unit = {"ms": 1, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
        res[name] = b["real_time"] * unit
    return res


def torch_first_call_child():
    """One fresh process: the README training step's first call under torch.jit.trace, after
    `import torch` and building the inputs (not timed). torch.jit.trace cannot trace
    torch.autograd.grad (the tracer runs without autograd) nor in-place updates of Parameters
    that require grad, so the step is traced in the form it can trace: the forward, the
    hand-written backward of the mean squared error and the SGD update, returning the loss and
    the new weights. Timed: torch.jit.trace(step, example inputs) plus the first call of the
    traced function. Prints {"wall_ms", "cpu_ms"} as JSON."""
    import torch
    torch.set_num_threads(1)
    x = torch.arange(32 * 5, dtype=torch.float32).reshape(32, 5) * 0.01
    y = torch.arange(32, dtype=torch.float32).reshape(32, 1) * 0.03
    w = torch.zeros(5, 1)
    b = torch.zeros(1)

    def step(x, y, w, b):
        r = x @ w + b - y
        loss = (r * r).mean()
        g = r * (2.0 / r.numel())
        return loss, w - 0.01 * (x.t() @ g), b - 0.01 * g.sum(0)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    traced = torch.jit.trace(step, (x, y, w, b))
    traced(x, y, w, b)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3}))


def compare_first_call(warm_start, runs):
    """kiln's first call of the README training step in fresh processes (bench/warm_start.cc,
    with its per-phase table) beside torch.jit.trace's first call of the same step."""
    out = subprocess.run([warm_start, f"--runs={runs}"], check=True, capture_output=True,
                         text=True).stdout
    print(out.rstrip())
    wall, cpu = [], []
    for _ in range(runs):
        r = subprocess.run([sys.executable, __file__, "--torch-first-call-child"], check=True,
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        t = json.loads(r.stdout.strip().splitlines()[-1])
        wall.append(t["wall_ms"])
        cpu.append(t["cpu_ms"])
    print(f"\ntorch.jit.trace + first call of the step (forward, hand-written backward, SGD "
          f"update), {runs} fresh processes (ms)")
    print(f"{'':38s} {'wall median':>12s} {'wall min':>10s} {'CPU median':>12s}")
    print(f"{'torch ' + torch_version():38s} {statistics.median(wall):12.2f} {min(wall):10.2f} "
          f"{statistics.median(cpu):12.2f}")


def torch_version():
    r = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln-bench", default="build/bin/kiln_bench")
    ap.add_argument("--libtorch-bench", default="build/bin/libtorch_bench",
                    help="bench/libtorch_bench.cc's binary; its rows are left out if it is missing")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--matmul", type=int, metavar="ROUNDS", default=0,
                    help="only compare the 1024x1024 matmul, kiln and libtorch C++ by turns")
    ap.add_argument("--first-call", type=int, metavar="RUNS", default=0,
                    help="only compare the first call of the training step in fresh processes "
                         "(kiln_warm_start) with torch.jit.trace's")
    ap.add_argument("--warm-start", default="build/bin/kiln_warm_start")
    ap.add_argument("--torch-first-call-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--peers-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kernel-peers-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mlp", action="store_true",
                    help="only the MLP comparison (bench/mlp_bench.cc), 1 and 2 threads")
    ap.add_argument("--mlp-peers-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(var, None)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    if args.torch_first_call_child:
        torch_first_call_child()
        return 0
    if args.first_call:
        compare_first_call(args.warm_start, args.first_call)
        return 0
    if args.peers_only:
        print(json.dumps(peers(args.n, args.threads)))
        return 0
    if args.kernel_peers_only:
        print(json.dumps(peers_kernels(args.threads)))
        return 0
    if args.mlp_peers_only:
        print(json.dumps(peers_mlp(args.threads)))
        return 0
    if args.mlp:
        compare_mlp(args.kiln_bench, args.libtorch_bench)
        return 0
    if args.matmul:
        compare_matmul(args.kiln_bench, args.libtorch_bench, args.matmul)
        return 0
    k = kiln(args.kiln_bench, args.n, args.threads)
    p = best_peers(args.n, args.threads)
    ref = k.get("HuberCompiled")
    gb = 3 * 4 * args.n / 1e9
    print(f"Huber loss over {args.n} float32 elements, {args.threads} thread(s), medians "
          "(peers: the better of default malloc and GLIBC_TUNABLES no-trim)")
    print(f"{'implementation':28s} {'ms':>9s} {'GB/s':>7s} {'kiln compiled is':>18s}")
    rows = [("kiln compiled", k.get("HuberCompiled")), ("kiln eager", k.get("HuberEager")),
            ("C++ loop -O3 -march=native", k.get("HuberHandWritten"))]
    rows += [(name, ms) for name, ms in p.items() if not name.startswith(("chain ", "mean "))]
    if args.threads == 1:  # libtorch_bench's Huber runs on one thread
        lt = libtorch_bench(args.libtorch_bench, f"Huber.*/{args.n}$")
        rows.append(("libtorch C++ eager", lt.get(f"BM_HuberEager/{args.n}", (None,))[0]))
    for name, ms in rows:
        if ms is None:
            continue
        ratio = faster(ms, ref) if name != "kiln compiled" else "-"
        print(f"{name:28s} {ms:9.3f} {gb / (ms / 1e3):7.1f} {ratio:>18s}")
    if "Copy" in k:
        print(f"{'(STREAM copy, 2x4 B/elem)':28s} {k['Copy']:9.3f} {2 * 4 * args.n / 1e9 / (k['Copy'] / 1e3):7.1f}")
    ref = k.get("HuberMeanCompiled")
    gb2 = 2 * 4 * args.n / 1e9  # both inputs read once
    print(f"\nHuber loss + mean over {args.n} float32 elements, {args.threads} thread(s), medians")
    print(f"{'implementation':28s} {'ms':>9s} {'GB/s':>7s} {'kiln compiled is':>18s}")
    rows = [("kiln compiled", ref), ("kiln eager", k.get("HuberMeanEager")),
            ("C++ loop, double sum", k.get("HuberMeanHandWritten"))]
    rows += [(name[len("mean "):], ms) for name, ms in p.items() if name.startswith("mean ")]
    for name, ms in rows:
        if ms is None:
            continue
        ratio = faster(ms, ref) if name != "kiln compiled" else "-"
        print(f"{name:28s} {ms:9.3f} {gb2 / (ms / 1e3):7.1f} {ratio:>18s}")
    if ref and "Copy" in k:
        print(f"kiln compiled reads the inputs at {100 * k['Copy'] / ref:.0f}% of the STREAM copy "
              f"bandwidth (same bytes: 2 x 4 B per element)")
    ref = k.get("ChainCompiled")
    print(f"\nChain of 10 elementwise ops (mul add tanh abs neg exp mul mul sub relu) over "
          f"{args.n} float32 elements, {args.threads} thread(s), medians")
    print(f"{'implementation':28s} {'ms':>9s} {'GB/s':>7s} {'kiln compiled is':>18s}")
    rows = [("kiln compiled", ref), ("kiln eager", k.get("ChainEager"))]
    rows += [(name[len("chain "):], ms) for name, ms in p.items() if name.startswith("chain ")]
    for name, ms in rows:
        if ms is None:
            continue
        ratio = faster(ms, ref) if name != "kiln compiled" else "-"
        print(f"{name:28s} {ms:9.3f} {gb / (ms / 1e3):7.1f} {ratio:>18s}")
    compare_kernels(args.kiln_bench, args.libtorch_bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
