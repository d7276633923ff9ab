#!/usr/bin/env python3
"""kiln — every op of ir/ops.def against NumPy, eagerly and compiled.

Usage: numpy_diff.py path/to/kiln-run [--ops=add,mul,...] [--seed=N] [--keep=DIR] [-v]

For each user-facing op of ir/ops.def this script generates cases (random shapes including
explicit broadcasts, rank-0 operands, size-0 dimensions, negative axes, keepdims, edge values such
as 0, -0, huge values, denormals, inf and nan, integer division by negative divisors) for every
dtype the op takes (float16, bfloat16, float32, float64, int32, int64, bool; see FLOATS, INTS and
HALVES below for how each is generated and referenced), writes
one .kir function per op holding all its cases plus one .npy file per argument, runs
`kiln-run --mode=both` (the eager interpreter and the compiled code, which must agree) and compares
both results against a reference computed here with NumPy. Where TF and NumPy disagree the
reference follows TF, as kiln does (noted at each op). An op of ops.def without a generator
below (and not in SKIP) fails the run, so a new op needs its cases here.

Prints one row per op (cases per dtype; per float dtype the largest error in ulps of that dtype
and the largest relative error, over the eager and compiled results) and exits 1 on any
mismatch, 77 (skipped) when NumPy is missing.
"""
import concurrent.futures
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import numpy as np
except ImportError:
    print("numpy is not installed; skipping")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# IR dtype name -> NumPy dtype. bfloat16 has no NumPy dtype: its values travel as float32 (see
# HALVES below). New dtypes go here and into FLOATS / INTS / HALVES.
NP_DTYPE = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i32": np.int32,
            "i64": np.int64, "bool": np.bool_}
# Dtypes whose cases the generators make directly, with references in (at least) that dtype.
FLOATS = ["f32", "f64"]
INTS = ["i32", "i64"]
# float16 and bfloat16 cases are the generators' float32 cases in "half mode" (HALF set): every
# float32 value is drawn on the half dtype's grid, the reference is computed from those inputs
# exactly as for float32 and rounded once to the half dtype (kiln computes halves in float32 and
# rounds each result, as TF on CPU). float16 inputs and results go through .npy as float16;
# bfloat16 ones cannot (.npy has no bfloat16), so they go as float32 and the function casts
# them to bf16 on entry and its bf16 results back to f32 (exact) before returning.
# Ops in HALF_EXPLICIT make their half cases themselves.
HALVES = ["f16", "bf16"]
HALF = None
HALF_EXPLICIT = {"cast", "one_hot"}


def sampled(dt):
    """Whether dt's cases are a sample: the dtypes added after float32/int32/bool get fewer
    shapes per op (their edge values and, for the halves, every value are still covered) to
    keep the run short; float32, int32 and bool keep the full set."""
    return HALF is not None or dt in ("f64", "i64")


def dtypes(kind):
    """The dtypes a generator loops over for operands of `kind` (float, numeric, any, bool).
    In half mode only "f32" (standing for the half dtype), and no int or bool operands."""
    if HALF is not None:
        return ["f32"] if kind in ("float", "numeric", "any") else []
    return {"float": FLOATS, "numeric": FLOATS + INTS, "any": FLOATS + INTS + ["bool"],
            "bool": ["bool"]}[kind]


# Ops of ops.def that are not compared, and why.
SKIP = {
    "fusion": "made by the fuse pass from the other ops; every compiled case runs through it",
    "yield": "terminator of a region, no value of its own",
    "cond": "control flow over the other ops' kernels (tests/unit/compiler/control_flow_test.cc)",
    "while": "control flow over the other ops' kernels (tests/unit/compiler/control_flow_test.cc)",
    "return": "terminator; every case uses it",
    "grad": "no kernel: the autodiff pass expands it (tests/lit/passes/autodiff.kir)",
    "custom_grad": "the identity of its first operand with a gradient region; the autodiff pass "
                   "removes it (tests/lit/passes/autodiff.kir)",
}

# float32 tolerances per op: an element passes if it is within `ulp` float32 ulps of the
# reference or within `atol` of it (atol covers results near 0 of ops that lose relative
# accuracy there, e.g. sin near a multiple of pi). The references of transcendental ops are
# computed in float64 and rounded once, so `ulp` is kiln's own error. Ops not listed are exact:
# IEEE arithmetic (add sub mul div sqrt), rounding, comparisons, data movement. float64 uses
# TOL_F64 and the halves HALF_TOL (see tolerance()).
TOL = {
    "exp": (2, 0), "log": (2, 0), "expm1": (2, 0), "log1p": (2, 0), "rsqrt": (2, 0),
    "pow": (2, 0),
    # Eigen's vectorized sin/cos reduce the argument in float32: a few ulps, and absolute error
    # near the zeros.
    "sin": (4, 2e-7), "cos": (4, 2e-7),
    "tanh": (4, 1e-7), "softplus": (4, 0),
    # sigmoid flushes results below the smallest normal float (x < -87.3) to 0.
    "sigmoid": (4, 1.2e-38),
    "elu": (2, 0),
    # selu multiplies expm1 (2 ulps) by the rounded constant scale * alpha.
    "selu": (3, 0),
    # gelu is TF's exact form 0.5 x (1 + erf(x / sqrt 2)) with a rational float32 erf
    # (runtime/kernels/math_functions.h): for x < -3 the sum 1 + erf cancels, so the error there
    # is absolute (up to ~4e-7), not relative, as in TF's float32 kernel.
    "gelu": (8, 1e-6),
    # Sums: kiln and NumPy add in different orders; errors scale with the sum of |x|.
    "reduce_sum": (4, "sum"), "reduce_mean": (4, "sum"), "add_n": (2, "sum"),
    "cumsum": (4, "sum"), "matmul": (4, "sum"),
    # A product of n terms rounds n - 1 times, in kiln's order: n ulps ("terms", per case).
    "reduce_prod": ("terms", 0),
}

# float64 tolerances, in float64 ulps (references in long double where NumPy has it, else in
# float64 with < 1 ulp of their own). Ops not listed are exact.
TOL_F64 = {
    "exp": (2, 0), "log": (2, 0), "expm1": (2, 0), "log1p": (2, 0), "rsqrt": (2, 0),
    "pow": (2, 0), "sin": (2, 0), "cos": (2, 0), "tanh": (2, 0), "softplus": (2, 0),
    "sigmoid": (2, 0), "elu": (2, 0), "selu": (3, 0),
    # kiln (as TF) computes 0.5 x (1 + erf(x / sqrt 2)) with the C library's erf: for x < -3
    # the sum cancels, an absolute error of about |x| ulp(1) (the reference uses erfc there).
    "gelu": (4, 1e-15),
    "reduce_sum": (4, "sum"), "reduce_mean": (4, "sum"), "add_n": (2, "sum"),
    "cumsum": (4, "sum"), "matmul": (4, "sum"),
    "reduce_prod": ("terms", 0),
}
# float16 / bfloat16: kiln rounds its float32 result, which is within the float32 tolerance of
# the exact value, once; the reference rounds the exact value (via float32). The two can land on
# either side of a rounding boundary: 1 ulp of the half dtype, plus the float32 absolute
# tolerance for results near 0. Sums accumulate in float32 and round once: 1 half ulp or
# 4 half eps times the sum of |terms|. Ops exact in float32 are exact in the halves too (their
# float32 result rounded once is the correctly rounded half result).
HALF_TOL = {"sum": (1, "sum"), "terms": (1, 0)}


def tolerance(op, dt):
    """(ulp, atol) for results of IR dtype `dt`; ulp may be "terms", atol "sum"."""
    if dt == "f64":
        return TOL_F64.get(op, (0, 0))
    ulp, atol = TOL.get(op, (0, 0))
    if dt in HALVES:
        if atol == "sum":
            return HALF_TOL["sum"]
        if ulp == "terms":
            return HALF_TOL["terms"]
        return (min(ulp, 1), atol)
    return ulp, atol


def eps(dt):
    return 2.0**-7 if dt == "bf16" else float(np.finfo(NP_DTYPE[dt]).eps)


SEED = 20261125  # fixed, so a run is reproducible; --seed=N explores other cases
RNG = np.random.default_rng(SEED)
F32_EDGES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, 0.49999997, 1e-3,
                      -7.25, 100.0, 8388609.0, -16777216.0, 1e30, -1e30, 3.4e38, -3.4e38,
                      1.17549435e-38, 1e-40, -1e-40, 1.4e-45, np.inf, -np.inf, np.nan],
                     dtype=np.float32)
I32_EDGES = np.array([0, 1, -1, 2, -2, 3, -3, 7, -7, 100, -100, 46341, -46341, 2**31 - 1,
                      -2**31],
                     dtype=np.int32)
F64_EDGES = np.array([0.1, -0.1, 1 / 3, 4503599627370497.0, 9007199254740993.0, 1e300, -1e300,
                      1.7976931348623157e308, 2.2250738585072014e-308, 1e-310, 5e-324, -5e-324,
                      0.49999999999999994, 1e-20, 3.4028235677973366e38, 1e39,
                      # Just above a float16 / bfloat16 tie, but a tie after rounding to float32.
                      1 + 2**-11 + 2**-40, 1 + 2**-8 + 2**-40], dtype=np.float64)
# Values of note of the halves (as float32): largest, smallest normal and subnormal, halfway
# points and integers past the last exact one.
HALF_EDGES = {
    "f16": np.array([65504.0, -65504.0, 65520.0, 6.1035156e-05, 5.9604645e-08, -5.9604645e-08,
                     2.9802322e-08, 2049.0, 2050.0, 0.33325195, 1.0009766], dtype=np.float32),
    "bf16": np.array([3.3895314e38, -3.3895314e38, 257.0, 258.0, 1.0078125, 9.18355e-41,
                      0.33398438, 1.1754944e-38], dtype=np.float32),
}
I64_EDGES = np.array([2**63 - 1, -2**63, 2**32, -2**32, 3037000500, -3037000500, 2**31, 2**53 + 1,
                      # Just above a bfloat16 tie, a tie after rounding to float32.
                      2**24 + 2**16 + 1, 2**40 + 2**32 + 1], dtype=np.int64)
SHAPES = [(), (7,), (3, 4), (2, 3, 5), (0, 3), (64, 300), (2, 1, 3, 1, 2, 2, 3)]


def round_bf16(x):
    """float32 -> the nearest bfloat16 value (ties to even), still as float32: bfloat16 is the
    upper half of a float32's bits. nan stays a (quiet) nan; overflow gives inf."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    u = np.uint64
    rounded = (bits + u(0x7FFF) + ((bits >> u(16)) & u(1))) & u(0xFFFF0000)
    rounded = np.where(np.isnan(x), (bits | u(0x00400000)) & u(0xFFFF0000), rounded)
    return rounded.astype(np.uint32).view(np.float32).reshape(np.shape(x))


def round_half(x, half):
    """float32 values rounded to the half dtype `half`, as float32."""
    x = np.asarray(x, dtype=np.float32)
    if half == "f16":
        return x.astype(np.float16).astype(np.float32)
    return round_bf16(x)


def fit(dt, x):
    """x as dtype dt; in half mode float32 values are rounded onto the half dtype's grid."""
    x = np.asarray(x).astype(NP_DTYPE[dt])
    if HALF is not None and dt == "f32":
        x = round_half(x, HALF)
    return x


class Case:
    """One application of an op: its inputs, attributes and expected results.

    bcast: a shape the non-scalar inputs are broadcast to (with `broadcast` ops) first.
    sum_scale: for "sum" tolerances, the scale of the absolute error allowed (sum of |terms|).
    terms: for "terms" tolerances, the number of terms combined into each result.
    in_types / out_types: IR dtypes of the inputs / results where they differ from the arrays'
    own ("bf16" for float32 arrays holding bfloat16 values). In half mode float32 inputs (on the
    half grid) become the half dtype and float32 results are rounded to it.
    """

    def __init__(self, inputs, expect, attrs=None, bcast=None, sum_scale=None, const=None,
                 terms=None, in_types=None, out_types=None, label=None):
        self.inputs = [np.asarray(x) for x in inputs]
        self.expect = [np.asarray(e) for e in (expect if isinstance(expect, list) else [expect])]
        self.in_types = in_types or [ir_dtype(x.dtype) for x in self.inputs]
        self.out_types = out_types or [ir_dtype(e.dtype) for e in self.expect]
        self.attrs = attrs or {}
        self.bcast = bcast
        self.sum_scale = sum_scale
        self.const = const
        self.terms = terms
        self.label = label
        if HALF is not None:
            self.to_half(HALF)

    def to_half(self, half):
        for j, x in enumerate(self.inputs):
            if self.in_types[j] == "f32":
                h = round_half(x, half)
                if not np.array_equal(h, x, equal_nan=True):
                    raise ValueError(f"half-mode input #{j} is not on the {half} grid")
                self.inputs[j] = x.astype(np.float16) if half == "f16" else h
                self.in_types[j] = half
        for i, e in enumerate(self.expect):
            if self.out_types[i] == "f32":
                h = round_half(e, half)
                self.expect[i] = h.astype(np.float16) if half == "f16" else h
                self.out_types[i] = half

    def dtype(self):
        """The dtype the case is about: `label`, else its first operand's (its result's when
        that operand is a bool condition, or when it has none)."""
        if self.label is not None:
            return self.label
        t = self.in_types[0] if self.inputs else self.out_types[0]
        return self.out_types[0] if t == "bool" else t

    def describe(self):
        ins = ", ".join(ir_type(x, t) for x, t in zip(self.inputs, self.in_types))
        attrs = f" {fmt_attrs(self.attrs)}" if self.attrs else ""
        b = f" broadcast to {list(self.bcast)}" if self.bcast is not None else ""
        return f"({ins}){b}{attrs}"


def ir_dtype(dt):
    for name, d in NP_DTYPE.items():
        if np.dtype(d) == np.dtype(dt):
            return name
    raise ValueError(f"no IR dtype for {dt}")


def ir_type(x, dt=None):
    return f"{dt or ir_dtype(x.dtype)}[{','.join(str(d) for d in x.shape)}]"


def fmt_value(v):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        s = repr(float(v))
        return s if any(c in s for c in ".ein") else s + ".0"
    if isinstance(v, str):
        return '"' + v + '"'
    return "[" + ", ".join(fmt_value(x) for x in v) + "]"


def fmt_attrs(attrs):
    return "{" + ", ".join(f"{k} = {fmt_value(v)}" for k, v in sorted(attrs.items())) + "}"


def kir_function(op, cases):
    """The text of one function applying `op` once per case and returning all results.
    bf16 operands arrive as f32 and are cast; bf16 results are cast to f32 for the return."""
    args, lines, rets, rtypes = [], [], [], []
    for k, c in enumerate(cases):
        names = []
        for j, (x, dt) in enumerate(zip(c.inputs, c.in_types)):
            name = f"%c{k}_{j}"
            if dt == "bf16":
                args.append(f"{name}: {ir_type(x, 'f32')}")
                lines.append(f'  {name}h = cast {name} {{dtype = "bf16"}} : {ir_type(x, dt)}')
                name += "h"
            else:
                args.append(f"{name}: {ir_type(x, dt)}")
            if c.bcast is not None and x.ndim > 0 and x.shape != tuple(c.bcast):
                b = f"%c{k}_{j}b"
                t = f"{dt}[{','.join(str(d) for d in c.bcast)}]"
                lines.append(f"  {b} = broadcast {name} {{shape = {fmt_value(list(c.bcast))}}}"
                             f" : {t}")
                name = b
            names.append(name)
        if c.const is not None:
            operands = c.const
        else:
            operands = ", ".join(names)
        attrs = f" {fmt_attrs(c.attrs)}" if c.attrs else ""
        types = [ir_type(e, t) for e, t in zip(c.expect, c.out_types)]
        if len(c.expect) == 1:
            lines.append(f"  %r{k} = {op} {operands}{attrs} : {types[0]}")
            results = [f"%r{k}"]
        else:
            lines.append(f"  %r{k}:{len(types)} = {op} {operands}{attrs} : ({', '.join(types)})")
            results = [f"%r{k}#{i}" for i in range(len(types))]
        for i, (r, e, t) in enumerate(zip(results, c.expect, c.out_types)):
            if t == "bf16":
                lines.append(f'  %r{k}_{i}f = cast {r} {{dtype = "f32"}} : {ir_type(e, "f32")}')
                rets.append(f"%r{k}_{i}f")
                rtypes.append(ir_type(e, "f32"))
            else:
                rets.append(r)
                rtypes.append(ir_type(e, t))
    res = rtypes[0] if len(rtypes) == 1 else f"({', '.join(rtypes)})"
    text = f"func @{op}({', '.join(args)}) -> {res} {{\n"
    text += "\n".join(lines) + "\n"
    text += f"  return {', '.join(rets)} : {', '.join(rtypes)}\n}}\n"
    return text


# ---- Comparison ----------------------------------------------------------------------------


def ordered_bits(x):
    """Floats -> int64 such that adjacent floats of x's dtype differ by 1 (-0 and +0 coincide).
    Works for any IEEE dtype of up to 64 bits (float16/32/64)."""
    x = np.asarray(x)
    bits = 8 * x.dtype.itemsize
    i = x.view(np.dtype(f"i{x.dtype.itemsize}")).astype(np.int64)
    mag = i & ((1 << (bits - 1)) - 1)
    return np.where(i < 0, -mag, mag)


def compare(op, got, want, case, dt):
    """(ok, max_ulp, max_rel, first bad flat index or None) for one result of IR dtype dt."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False, math.inf, math.inf, f"got {ir_type(got)}, want {ir_type(want)}"
    if got.size == 0:
        return True, 0, 0.0, None
    if want.dtype.kind != "f":
        bad = np.flatnonzero(got.ravel() != want.ravel())
        return bad.size == 0, 0, 0.0, (int(bad[0]) if bad.size else None)
    ulp_tol, atol = tolerance(op, dt)
    if ulp_tol == "terms":
        ulp_tol = max(4, case.terms)
    if atol == "sum":
        atol = 4 * eps(dt) * np.asarray(case.sum_scale, dtype=np.float64)
        atol = np.broadcast_to(atol, want.shape).ravel()
    g, w = got.ravel(), want.ravel()
    gnan, wnan = np.isnan(g), np.isnan(w)
    both = ~gnan & ~wnan
    with np.errstate(all="ignore"):
        ulp = np.abs(ordered_bits(g) - ordered_bits(w))
        if dt == "bf16":  # float32 holding bfloat16 values: the low 16 bits are 0
            ulp = ulp >> 16
        diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
        rel = np.where(w != 0, diff / np.abs(w.astype(np.float64)), np.where(diff > 0, np.inf, 0))
    # Infinities must match exactly (diff is nan or inf otherwise).
    inf_ok = np.where(np.isinf(g) | np.isinf(w), g == w, True)
    ok = (gnan == wnan) & np.where(both, inf_ok & ((ulp <= ulp_tol) | (diff <= atol)), True)
    finite = both & np.isfinite(g) & np.isfinite(w)
    max_ulp = int(ulp[finite].max()) if finite.any() else 0
    max_rel = float(rel[finite].max()) if finite.any() else 0.0
    bad = np.flatnonzero(~ok)
    return bad.size == 0, max_ulp, max_rel, (int(bad[0]) if bad.size else None)


def kiln_run_tolerance(op, cases):
    """--rtol/--atol for kiln-run's eager vs compiled check: the loosest over the float result
    dtypes of `cases` (each result is then held to its own dtype's tolerance against NumPy)."""
    rtol, atol = 0.0, 0.0
    for dt in {t for c in cases for t in c.out_types if t in FLOATS + HALVES}:
        ulp_tol, a = tolerance(op, dt)
        if a == "sum" or ulp_tol == "terms":
            rtol, atol = max(rtol, 1e-5, 4 * eps(dt)), max(atol, 1e-5, 4 * eps(dt))
        elif ulp_tol != 0 or a != 0:
            # Each may be `ulp_tol` ulps off the exact value, on either side. Relative for
            # normal numbers; the absolute part covers subnormals.
            tiny = float(np.finfo(np.float16).tiny) if dt == "f16" else 1.2e-38
            rtol = max(rtol, 2 * max(ulp_tol, 1) * eps(dt))
            atol = max(atol, 2 * a, tiny)
    return rtol, atol


def run_cases(tool, workdir, op, cases, passes=None):
    """Runs `cases` of `op` in one kiln-run call, with the default pass pipeline or `passes`.

    Returns ([{mode: results} per case], None) or (None, error text). Modes: "eager" and
    "compiled", or with `passes` only "compiled, passes=...".
    """
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, f"{op}.kir")
    with open(path, "w") as f:
        f.write(kir_function(op, cases))
    inputs = []
    for k, c in enumerate(cases):
        for j, x in enumerate(c.inputs):
            p = os.path.join(workdir, f"in{k}_{j}.npy")
            np.save(p, x)
            inputs.append(p)
    rtol, atol = kiln_run_tolerance(op, cases)
    cmd = [tool, path, "--inputs=" + ",".join(inputs), "--outputs=" + workdir]
    if passes is None:
        cmd += ["--mode=both", f"--rtol={rtol}", f"--atol={atol}"]
        modes = {"eager": "eager", "compiled": "compiled"}
    else:
        cmd += ["--mode=compiled", "--passes=" + passes]
        modes = {f"compiled, passes={passes!r}": "compiled"}
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        what = f" (--passes={passes!r})" if passes is not None else ""
        return None, f"kiln-run{what}: " + (proc.stdout + proc.stderr).strip()
    out, i = [], 0
    for c in cases:
        out.append({mode: [np.load(os.path.join(workdir, f"{prefix}.{i + r}.npy"))
                           for r in range(len(c.expect))] for mode, prefix in modes.items()})
        i += len(c.expect)
    return out, None


def run_each(tool, workdir, op, cases, passes, failures):
    """run_cases, falling back to one call per case to name the failing ones."""
    results, err = run_cases(tool, workdir, op, cases, passes)
    if err is None:
        return results
    results = []
    for k, c in enumerate(cases):
        r, e = run_cases(tool, os.path.join(workdir, f"case{k}"), op, [c], passes)
        if e is not None:
            failures.append(f"{op} case {k} {c.describe()}: " + e.replace("\n", "\n    "))
        results.append(r[0] if r else None)
    return results


def check_op(tool, workdir, op, cases, verbose):
    """Returns (row dict, list of failure messages)."""
    failures = []
    start = time.monotonic()
    results = run_each(tool, workdir, op, cases, None, failures)
    if op in ELEMENTWISE:
        # The default pipeline fuses elementwise ops into loops; without passes each op lowers
        # on its own, another code path. A sample runs again that way (all cases would double
        # the run time): the first case with a broadcast, the first with a rank-0 operand, and
        # per dtype the edge values (its case with the longest 1-D input; for the halves every
        # value or random pairs of them).
        bcast = [k for k, c in enumerate(cases) if c.bcast is not None]
        scalar = [k for k, c in enumerate(cases) if any(x.ndim == 0 for x in c.inputs)]
        edge = {}
        for k, c in enumerate(cases):
            n = max([x.size if x.ndim == 1 else 0 for x in c.inputs] + [0])
            if n > edge.get(c.dtype(), (-1, 0))[0]:
                edge[c.dtype()] = (n, k)
        picked = sorted(set(bcast[:1] + scalar[:1] + [k for _, k in edge.values()]))
        unfused = run_each(tool, os.path.join(workdir, "unfused"), op,
                           [cases[k] for k in picked], "", failures)
        for k, r in zip(picked, unfused):
            if results[k] is not None and r is not None:
                results[k].update(r)
    max_ulp, max_rel = {}, {}
    for k, (c, r) in enumerate(zip(cases, results)):
        if r is None:
            continue
        for mode in r:
            for i, (got, want) in enumerate(zip(r[mode], c.expect)):
                dt = c.out_types[i]
                ok, ulp, rel, bad = compare(op, got, want, c, dt)
                if dt in FLOATS + HALVES:
                    max_ulp[dt] = max(max_ulp.get(dt, 0), ulp)
                    max_rel[dt] = max(max_rel.get(dt, 0.0), rel)
                if not ok:
                    failures.append(f"{op} case {k} {c.describe()} result #{i} ({mode}): " +
                                    mismatch_text(c, got, want, bad))
                    break
    counts = {}
    for c in cases:
        counts[c.dtype()] = counts.get(c.dtype(), 0) + 1
    row = {"op": op, "cases": len(cases), "ulp": max_ulp, "rel": max_rel, "counts": counts}
    if verbose:
        print(f"{op}: {len(cases)} cases, {time.monotonic() - start:.2f} s", file=sys.stderr)
    return row, failures


def mismatch_text(c, got, want, bad):
    if isinstance(bad, str):
        return bad
    idx = np.unravel_index(bad, want.shape) if want.ndim else ()
    text = f"at {list(int(i) for i in idx)}: got {got.ravel()[bad]!r}, want {want.ravel()[bad]!r}"
    ins = [x for x in c.inputs if x.shape == want.shape]
    if ins and c.bcast is None:
        text += " for input(s) " + ", ".join(repr(x.ravel()[bad]) for x in ins)
    return text


# ---- Inputs --------------------------------------------------------------------------------


def random_shape(max_rank=4, max_dim=6, zero_prob=0.08, min_rank=0):
    rank = int(RNG.integers(min_rank, max_rank, endpoint=True))
    return tuple(0 if RNG.random() < zero_prob else int(RNG.integers(1, max_dim, endpoint=True))
                 for _ in range(rank))


def random_broadcast_shapes(n):
    """n operand shapes that broadcast together (NumPy rules): some dims 1, some leading dims
    dropped; and the shape they broadcast to."""
    out = random_shape(zero_prob=0.05)
    shapes = []
    for _ in range(n):
        dims = [1 if RNG.random() < 0.4 else d for d in out]
        shapes.append(tuple(dims[int(RNG.integers(0, len(dims), endpoint=True)):]))
    return shapes, np.broadcast_shapes(*shapes)


# Where a half dtype's range ends: log-uniform draws stay inside it.
HALF_RANGE = {"f16": (6.2e-5, 6.5e4), "bf16": (1.2e-38, 3.3e38)}


def rand_float(dt, shape, lo=-10.0, hi=10.0):
    return fit(dt, RNG.uniform(lo, hi, size=shape))


def rand_log(dt, shape, lo=1e-6, hi=1e6):
    if HALF is not None:
        lo, hi = max(lo, HALF_RANGE[HALF][0]), min(hi, HALF_RANGE[HALF][1])
    return fit(dt, np.exp(RNG.uniform(np.log(lo), np.log(hi), size=shape)))


def rand_int(dt, shape, lo=-50, hi=50):
    return RNG.integers(lo, hi, size=shape, endpoint=True).astype(NP_DTYPE[dt])


def rand_bool(shape):
    return RNG.integers(0, 1, size=shape, endpoint=True).astype(np.bool_)


def rand(dt, shape, **kw):
    if dt in FLOATS:
        return rand_float(dt, shape, **kw)
    if dt in INTS:
        return rand_int(dt, shape, **kw)
    return rand_bool(shape)


def edges(dt):
    if dt in FLOATS:
        e = F32_EDGES.astype(NP_DTYPE[dt])
        if dt == "f64":
            e = np.concatenate([e, F64_EDGES])
        elif HALF is not None:
            e = np.concatenate([e, HALF_EDGES[HALF]])
        e = fit(dt, e)
        # Without the values that became duplicates on the dtype's grid (by bits: -0 stays).
        _, first = np.unique(e.view(f"u{e.itemsize}"), return_index=True)
        return e[np.sort(first)]
    if dt in INTS:
        e = I32_EDGES.astype(NP_DTYPE[dt])
        if dt == "i64":
            e = np.concatenate([e, I64_EDGES])
        return e
    return np.array([False, True])


def every_half_value(half):
    """All 65536 values of a half dtype (as float32 for bf16), nans included."""
    bits = np.arange(1 << 16, dtype=np.uint32)
    if half == "f16":
        return bits.astype(np.uint16).view(np.float16).astype(np.float32)
    return (bits << 16).view(np.float32)


def pairs(a):
    """Every pair of elements of `a`, as two flat arrays."""
    x, y = np.meshgrid(a, a, indexing="ij")
    return x.ravel(), y.ravel()


def ignore(f):
    with np.errstate(all="ignore"):
        return f()


def wide(x):
    """x in a wider float type for references: float64, or long double for float64 x (80-bit
    on x86; NumPy's long double math is accurate to about its own ulp)."""
    return x.astype(np.longdouble if x.dtype == np.float64 else np.float64)


def f64(f):
    """An elementwise reference computed in float64 (long double for float64 x) and rounded
    once to x's dtype."""
    return lambda x: ignore(lambda: np.asarray(f(wide(x))).astype(x.dtype))


# ---- Elementwise ---------------------------------------------------------------------------


def unary_cases(ref, kinds, gen=None, edge_filter=None, attrs=None):
    """Random shapes and the edge values; for the halves fewer shapes but every value."""
    cases = []
    for dt in dtypes(kinds):
        shapes = SHAPES + [random_shape(), random_shape()]
        if sampled(dt):
            shapes = SHAPES[:5] + SHAPES[6:] + [random_shape()]
        if HALF is not None:
            shapes = [(), (3, 4), (0, 3), (2, 1, 3, 1, 2, 2, 3), random_shape()]
            x = every_half_value(HALF)
            cases.append(Case([x], ref(x), attrs))
        for shape in shapes:
            x = fit(dt, gen(dt, shape)) if gen and dt in FLOATS else rand(dt, shape)
            cases.append(Case([x], ref(x), attrs))
        e = edges(dt)
        if edge_filter is not None:
            e = e[edge_filter(e)]
        cases.append(Case([e], ref(e), attrs))
    return cases


def erfc64(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

# TF semantics where NumPy has no direct equivalent or differs.
UNARY = {
    "neg": (lambda x: ignore(lambda: np.negative(x)), "numeric", None),
    "abs": (lambda x: ignore(lambda: np.abs(x)), "numeric", None),
    "square": (lambda x: ignore(lambda: np.square(x)), "numeric", None),
    "exp": (f64(np.exp), "float", lambda dt, s: rand_float(dt, s, -100, 100)),
    "log": (f64(np.log), "float", lambda dt, s: rand_log(dt, s, 1e-30, 1e30)),
    "sqrt": (lambda x: ignore(lambda: np.sqrt(x)), "float",
             lambda dt, s: rand_log(dt, s, 1e-30, 1e30)),
    "rsqrt": (f64(lambda x: 1 / np.sqrt(x)), "float", lambda dt, s: rand_log(dt, s, 1e-30, 1e30)),
    "expm1": (f64(np.expm1), "float", lambda dt, s: rand_float(dt, s, -20, 20) * RNG.choice(
        [1, 1e-4], size=s)),
    "log1p": (f64(np.log1p), "float", lambda dt, s: np.where(
        RNG.random(s) < 0.5, rand_float(dt, s, -1e-4, 1e-4), rand_float(dt, s, -0.999, 1e3))),
    "sin": (f64(np.sin), "float", lambda dt, s: rand_float(dt, s, -100, 100)),
    "cos": (f64(np.cos), "float", lambda dt, s: rand_float(dt, s, -100, 100)),
    "tanh": (f64(np.tanh), "float", lambda dt, s: rand_float(dt, s, -12, 12)),
    "sigmoid": (f64(lambda x: 1 / (1 + np.exp(-x))), "float",
                lambda dt, s: rand_float(dt, s, -90, 30)),
    "softplus": (f64(lambda x: np.logaddexp(0, x)), "float",
                 lambda dt, s: rand_float(dt, s, -90, 90)),
    "elu": (f64(lambda x: np.where(x < 0, np.expm1(x), x)), "float", None),
    "selu": (f64(lambda x: SELU_SCALE * np.where(x < 0, SELU_ALPHA * np.expm1(x), x)), "float",
             None),
    # TF's default gelu is the exact erf form (approximate=False).
    # 1 + erf(z) is computed as erfc(-z), which does not cancel for z < -1.
    "gelu": (f64(lambda x: 0.5 * x * erfc64(-x / np.sqrt(2))), "float",
             lambda dt, s: rand_float(dt, s, -10, 10)),
    "floor": (np.floor, "float", None),
    "ceil": (np.ceil, "float", None),
    # TF's round is half to even, like np.round; the identity on integers.
    "round": (np.round, "numeric", None),
    # sign(nan) = nan, sign(+-0) = +-0, as TF.
    "sign": (np.sign, "numeric", None),
    "relu": (lambda x: np.where(np.isnan(x), x, np.maximum(x, x.dtype.type(0))), "numeric",
             None),
    "relu6": (lambda x: np.where(np.isnan(x), x, np.clip(x, x.dtype.type(0), x.dtype.type(6))),
              "numeric", None),
}


def gen_unary(op):
    ref, kinds, gen = UNARY[op]
    return unary_cases(ref, kinds, gen)


def gen_leaky_relu(op):
    cases = []
    for alpha in (0.2, 0.01, -1.5):
        # alpha in the computing dtype: float32 for float32 and the halves, float64 for float64.
        ref = lambda x, a=alpha: ignore(lambda: np.where(x < 0, x.dtype.type(a) * x, x))
        attrs = {} if alpha == 0.2 else {"alpha": alpha}  # 0.2 is the default
        cases += unary_cases(ref, "float", attrs=attrs)
    return cases


def binary_cases(ref, kinds, gen=None, avoid_zero_divisor=False):
    """Same-shape, scalar-and-tensor, explicitly broadcast and edge-pair cases; for the halves
    also random pairs of any two values."""
    cases = []

    def mk(dt, shape):
        x = fit(dt, gen(dt, shape)) if gen else rand(dt, shape)
        if avoid_zero_divisor and dt in INTS:
            x = np.where(x == 0, x.dtype.type(3), x)
        return x

    for dt in dtypes(kinds):
        if HALF is not None:
            every = every_half_value(HALF)
            x, y = RNG.choice(every, 4096), RNG.choice(every, 4096)
            cases.append(Case([x, y], ref(x, y)))
        shapes = [(), (7,), (3, 4), (0, 3), (64, 300), (2, 1, 3, 1, 2, 2, 3)]
        scalar_pairs = [((), (3, 4)), ((5,), ())]
        shape_pairs = [((3, 1), (1, 4)), ((2, 1, 5), (3, 1)), ((4,), (0, 1))]
        shape_pairs += [tuple(random_broadcast_shapes(2)[0]) for _ in range(2)]
        if sampled(dt):
            shapes = [(), (3, 4), (0, 3)] if HALF is not None else shapes[:4] + shapes[5:]
            scalar_pairs, shape_pairs = scalar_pairs[:1], shape_pairs[:1] + shape_pairs[3:4]
        for shape in shapes:
            a, b = mk(dt, shape), mk(dt, shape)
            cases.append(Case([a, b], ref(a, b)))
        for sa, sb in scalar_pairs:
            a, b = mk(dt, sa), mk(dt, sb)
            cases.append(Case([a, b], ref(a, b)))
        for sa, sb in shape_pairs:
            a, b = mk(dt, sa), mk(dt, sb)
            shape = np.broadcast_shapes(sa, sb)
            cases.append(Case([a, b], ref(a, b), bcast=shape))
        x, y = pairs(edges(dt))
        if avoid_zero_divisor and dt in INTS:
            x, y = x[y != 0], y[y != 0]
        cases.append(Case([x, y], ref(x, y)))
        if dt in FLOATS and HALF is None and not gen:
            # Magnitudes spread over the whole exponent range, either sign.
            tiny, big = (1e-40, 1e38) if dt == "f32" else (1e-310, 1e307)
            x, y = [fit(dt, rand_log(dt, 2048, tiny, big) * RNG.choice([-1, 1], 2048))
                    for _ in "xy"]
            cases.append(Case([x, y], ref(x, y)))
    return cases


def wrap(q, dtype):
    """Exact (Python) integers wrapped to a two's complement integer dtype, as TF's int ops."""
    bits = 8 * np.dtype(dtype).itemsize
    half = 1 << (bits - 1)
    q = np.asarray(q, dtype=object)
    return np.asarray((q + half) % (2 * half) - half, dtype=object).astype(dtype)


def int_trunc_div(a, b):
    """C / TF truncating int division, wrapping (INT_MIN / -1 = INT_MIN)."""
    ao, bo = a.astype(object), b.astype(object)
    q = np.sign(ao) * np.sign(bo) * (np.abs(ao) // np.abs(bo))
    return wrap(q, a.dtype)


def int_floor(f):
    """Integer floordiv / mod computed exactly (Python semantics), wrapped back."""
    return lambda a, b: wrap(f(a.astype(object), b.astype(object)), a.dtype)


def per_dtype(fl, it):
    return lambda a, b: ignore(lambda: (fl if a.dtype.kind == "f" else it)(a, b))


BINARY = {
    "add": (per_dtype(np.add, np.add), "numeric", None),
    "sub": (per_dtype(np.subtract, np.subtract), "numeric", None),
    "mul": (per_dtype(np.multiply, np.multiply), "numeric", None),
    # Integer division truncates toward 0 (TF's Div / C) and wraps (INT_MIN / -1 = INT_MIN);
    # floats are IEEE.
    "div": (per_dtype(np.divide, int_trunc_div), "numeric", None),
    "pow": (lambda a, b: ignore(lambda: np.power(wide(a), wide(b))).astype(a.dtype), "float",
            lambda dt, s: rand_float(dt, s, 0, 4) * RNG.choice([1, -1], size=s)),
    "minimum": (per_dtype(np.minimum, np.minimum), "numeric", None),
    "maximum": (per_dtype(np.maximum, np.maximum), "numeric", None),
    # floormod: the sign of the divisor. NumPy's np.mod is the same up to the sign of a zero
    # result (the comparison does not look at signs of zeros).
    "mod": (per_dtype(np.mod, int_floor(np.mod)), "numeric", None),
    # TF's float floordiv is floor(x / y); np.floor_divide differs (e.g. 1 // 0.1 is 9 there,
    # floor(1 / 0.1f) = 10).
    "floordiv": (per_dtype(lambda a, b: np.floor(a / b), int_floor(np.floor_divide)),
                 "numeric", None),
    "less": (np.less, "numeric", None),
    "greater": (np.greater, "numeric", None),
    "less_equal": (np.less_equal, "numeric", None),
    "greater_equal": (np.greater_equal, "numeric", None),
    "equal": (np.equal, "any", None),
    "not_equal": (np.not_equal, "any", None),
    "logical_and": (np.logical_and, "bool", None),
    "logical_or": (np.logical_or, "bool", None),
}


def gen_binary(op):
    ref, kinds, gen = BINARY[op]
    return binary_cases(ref, kinds, gen, avoid_zero_divisor=op in ("div", "mod", "floordiv"))


def gen_logical_not(op):
    return unary_cases(np.logical_not, "bool")


def gen_select(op):
    cases = []
    for dt in dtypes("any"):
        for shape in SHAPES:
            c, x, y = rand_bool(shape), rand(dt, shape), rand(dt, shape)
            cases.append(Case([c, x, y], np.where(c, x, y)))
        c, x, y = rand_bool((3, 4)), rand(dt, ()), rand(dt, (3, 4))
        cases.append(Case([c, x, y], np.where(c, x, y)))
        c, x, y = rand_bool(()), rand(dt, (5,)), rand(dt, (5,))
        cases.append(Case([c, x, y], np.where(c, x, y)))
        c, x, y = rand_bool((3, 1)), rand(dt, (1, 4)), rand(dt, (3, 4))
        cases.append(Case([c, x, y], np.where(c, x, y), bcast=(3, 4)))
        for _ in range(2):
            (sc, sx, sy), out = random_broadcast_shapes(3)
            c, x, y = rand_bool(sc), rand(dt, sx), rand(dt, sy)
            cases.append(Case([c, x, y], np.where(c, x, y), bcast=out))
    return cases


def cast_ref(x, to):
    """TF's cast of the values x (float32 holding bfloat16 values for a bf16 source)."""
    if to in INTS:
        info = np.iinfo(NP_DTYPE[to])
        if x.dtype.kind == "f":
            # Truncation toward 0; nan and out-of-range values give the lowest value (TF on x86).
            x64 = x.astype(np.float64)
            ok = np.isfinite(x64) & (x64 >= info.min) & (x64 < -float(info.min))
            return np.where(ok, np.trunc(np.where(ok, x64, 0)), info.min).astype(NP_DTYPE[to])
        return x.astype(NP_DTYPE[to])
    if to == "bool":
        return x != 0
    if to in HALVES:
        # To a half dtype through float32 (float64 and int64 round twice), as Eigen's half.
        return round_half(x.astype(np.float32), to).astype(np.float16 if to == "f16" else
                                                          np.float32)
    return x.astype(NP_DTYPE[to])


def cast_values(src, shape=None):
    """Random values (shape given) or the edge values of dtype src, as arrays of the type they
    travel in (float32 for bf16)."""
    if src in HALVES:
        if shape is not None:
            x = rand_float("f32", shape)
        else:
            x = np.concatenate([F32_EDGES, HALF_EDGES[src], CAST_EDGES.astype(np.float32)])
        x = round_half(x, src)
        return x.astype(np.float16) if src == "f16" else x
    if shape is not None:
        return rand(src, shape)
    e = edges(src)
    if src in FLOATS:
        e = np.concatenate([e, CAST_EDGES.astype(NP_DTYPE[src])])
    return e


# Float values at the ends of the integer dtypes' ranges and between integers.
CAST_EDGES = np.array([2.0**31, -2.0**31, 2147483520.0, -0.9, 0.9, 16777217.0, 2.0**63, -2.0**63,
                       9223371487098961920.0, 2.0**53 + 2, 1e19])


def gen_cast(op):
    """Every pair of the seven dtypes. The pairs of float32, int32 and bool get three random
    shapes and the edge values, the others one random shape and the edge values."""
    cases = []
    every = FLOATS + INTS + ["bool"] + HALVES
    for src in every:
        for to in every:
            old = src in ("f32", "i32", "bool") and to in ("f32", "i32", "bool")
            for shape in [(), (3, 4), (0, 2)] if old else [(3, 4)]:
                x = cast_values(src, shape)
                cases.append(Case([x], cast_ref(x, to), {"dtype": to}, in_types=[src],
                                  out_types=[to], label=src))
            e = cast_values(src)
            cases.append(Case([e], cast_ref(e, to), {"dtype": to}, in_types=[src],
                              out_types=[to], label=src))
    return cases


def gen_broadcast(op):
    cases = []
    for dt in dtypes("any"):
        for src, dst in [((), (5,)), ((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((1,), (0,)),
                         ((2, 1, 3), (2, 5, 3)), ((3,), (3,)), ((), ())]:
            x = rand(dt, src)
            cases.append(Case([x], np.broadcast_to(x, dst).copy(), {"shape": list(dst)}))
    return cases


def gen_const(op):
    cases = []
    for dt in dtypes("any"):
        for value in [rand(dt, ()), rand(dt, (2, 3)), rand(dt, (0, 2)), edges(dt)]:
            flat = [fmt_value(v) for v in value.ravel()]
            text = flat[0] if value.ndim == 0 else "[" + ", ".join(flat) + "]"
            cases.append(Case([], value, const=text))
    return cases


# ---- Reductions ----------------------------------------------------------------------------


REDUCE_SHAPES = [((3, 4), None), ((3, 4), [1]), ((3, 4), [-1]), ((2, 3, 5), [0, 2]),
                 ((2, 3, 5), [-3, 1]), ((2, 3, 5), None), ((), None), ((7,), [0]),
                 ((0, 3), [0]), ((0, 3), [1]), ((4, 0), None), ((40, 33), [0]), ((40, 33), [1]),
                 ((2, 3, 1, 2, 2, 3, 2), [0, 3, -1]), ((3, 2, 2, 1, 3, 2, 2), [])]


def random_reduction():
    """A random shape of rank >= 1 and a random set of its axes (some written negative)."""
    shape = random_shape(min_rank=1)
    axes = [int(a) for a in range(len(shape)) if RNG.random() < 0.5]
    axes = [a - len(shape) if RNG.random() < 0.3 else a for a in axes]
    return shape, axes


def reduce_cases(ref, kinds, gen=None, sum_scale=None, keepdims=(False, True)):
    cases = []
    for dt in dtypes(kinds):
        for n, (shape, axes) in enumerate(REDUCE_SHAPES + [random_reduction() for _ in range(3)]):
            # A sampled dtype takes one of the two keepdims values per shape, alternately.
            for kd in keepdims[n % len(keepdims):][:1] if sampled(dt) else keepdims:
                x = gen(dt, shape) if gen else rand(dt, shape)
                ax = None if axes is None else tuple(axes)
                attrs = {}
                if axes is not None:
                    attrs["axes"] = axes
                if kd:
                    attrs["keepdims"] = True
                scale = None
                if sum_scale is not None:
                    scale = ignore(lambda: sum_scale(x, ax, kd))
                cases.append(Case([x], ref(x, ax, kd), attrs, sum_scale=scale))
    return cases


def abs_sum(x, ax, kd):
    return np.sum(np.abs(x.astype(np.float64)), axis=ax, keepdims=kd)


def int_mean(x, ax, kd):
    """TF's integer mean: the exact sum, divided with truncation; an empty mean is 0."""
    s = np.sum(x.astype(object), axis=ax, keepdims=kd)
    s = np.asarray(s, dtype=object)
    n = x.size // max(s.size, 1) if x.size else 0
    if n == 0:
        return np.zeros(s.shape, dtype=x.dtype)
    q = np.sign(s) * (np.abs(s) // n)
    return wrap(q, x.dtype)


def gen_reduce_sum(op):
    def ref(x, ax, kd):
        if x.dtype.kind == "f":
            return np.sum(wide(x), axis=ax, keepdims=kd).astype(x.dtype)
        return np.sum(x, axis=ax, keepdims=kd, dtype=x.dtype)  # wraps like TF
    cases = reduce_cases(ref, "numeric", sum_scale=abs_sum)
    for dt in [t for t in dtypes("numeric") if t in INTS]:  # the sums wrap
        info = np.iinfo(NP_DTYPE[dt])
        big = rand_int(dt, (4, 5), info.max // 2, info.max)
        cases.append(Case([big], ref(big, (1,), False), {"axes": [1]}))
    return cases


def gen_reduce_mean(op):
    def ref(x, ax, kd):
        if x.dtype.kind == "f":
            # An empty mean is 0/0 = nan.
            return ignore(lambda: np.mean(wide(x), axis=ax, keepdims=kd)
                          ).astype(x.dtype)
        return int_mean(x, ax, kd)
    return reduce_cases(ref, "numeric",
                        sum_scale=lambda x, ax, kd: abs_sum(x, ax, kd) / max(
                            x.size // max(np.sum(x, axis=ax, keepdims=kd).size, 1), 1))


def minmax_ref(f, sign):
    def ref(x, ax, kd):
        if x.dtype.kind == "f":
            init = sign * np.inf  # TF's identity: -inf for max, +inf for min
        else:
            init = np.iinfo(x.dtype).min if sign < 0 else np.iinfo(x.dtype).max
        return f(x, axis=ax, keepdims=kd, initial=init)
    return ref


def with_nans(dt, shape):
    x = rand(dt, shape)
    if dt in FLOATS and x.size:
        x.ravel()[RNG.random(x.size) < 0.05] = np.nan
        x.ravel()[RNG.random(x.size) < 0.05] = np.inf
    return x


def gen_reduce_max(op):
    return reduce_cases(minmax_ref(np.max, -1), "numeric", gen=with_nans)


def gen_reduce_min(op):
    return reduce_cases(minmax_ref(np.min, 1), "numeric", gen=with_nans)


def gen_reduce_prod(op):
    def ref(x, ax, kd):
        if x.dtype.kind == "f":
            return ignore(lambda: np.prod(wide(x), axis=ax, keepdims=kd)
                          ).astype(x.dtype)
        return np.prod(x, axis=ax, keepdims=kd, dtype=x.dtype)  # wraps like TF
    cases = reduce_cases(ref, "numeric",
                         gen=lambda dt, s: rand(dt, s, lo=-2, hi=2) if dt in FLOATS
                         else rand(dt, s, lo=-3, hi=3))
    for c in cases:
        c.terms = c.inputs[0].size // max(c.expect[0].size, 1)
    return cases


def gen_reduce_all(op):
    return reduce_cases(lambda x, ax, kd: np.all(x, axis=ax, keepdims=kd), "bool",
                        gen=lambda dt, s: RNG.random(s) < 0.9)


def gen_reduce_any(op):
    return reduce_cases(lambda x, ax, kd: np.any(x, axis=ax, keepdims=kd), "bool",
                        gen=lambda dt, s: RNG.random(s) < 0.1)


def tf_arg(x, axis, better):
    """TF's argmax/argmin: the first index whose value no later one beats with `better` (a NaN
    is never better, so NumPy's "first NaN wins" does not apply)."""
    xm = np.moveaxis(x, axis, 0)
    best, idx = xm[0].copy(), np.zeros(xm.shape[1:], dtype=np.int32)
    for k in range(1, xm.shape[0]):
        b = better(xm[k], best)
        best = np.where(b, xm[k], best)
        idx = np.where(b, np.int32(k), idx)
    return idx


def gen_arg(op):
    better = np.greater if op == "argmax" else np.less
    cases = []
    for dt in dtypes("numeric"):
        for shape, axis in [((7,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 5), 1),
                            ((2, 3, 5), -1), ((40, 33), 0), ((3, 0), 0), ((1, 5), 0)]:
            x = rand(dt, shape, lo=-3, hi=3)  # small range: ties
            if dt in FLOATS:
                x = np.round(x)
            cases.append(Case([x], tf_arg(x, axis, better), {"axis": axis}))
        x = with_nans(dt, (6, 9))
        cases.append(Case([x], tf_arg(x, 1, better), {"axis": 1}))
        x = with_nans(dt, (6, 9))
        cases.append(Case([x], tf_arg(x, 0, better), {"axis": 0}))
        x = rand(dt, (5, 8), lo=-3, hi=3)
        cases.append(Case([x], tf_arg(x, -1, better).astype(np.int64),
                          {"axis": -1, "output_type": "i64"}))
    return cases


def cumsum_ref(x, axis, exclusive, reverse):
    """TF's cumsum in float64 / int64 (rounded or wrapped once at the end); also returns the
    running sums of |x| that bound the float rounding error."""
    w = wide(x) if x.dtype.kind == "f" else x.astype(np.int64)  # int64 wraps as TF's int64
    if x.ndim == 0:
        return (np.zeros_like(x) if exclusive else x.copy()), np.abs(w)
    v = np.flip(w, axis) if reverse else w
    if exclusive:  # shift by one along the axis, starting from 0
        zero = np.zeros_like(np.take(v, [0], axis=axis))
        v = np.concatenate([zero, np.take(v, range(v.shape[axis] - 1), axis=axis)], axis)
    s, a = np.cumsum(v, axis=axis), np.cumsum(np.abs(v), axis=axis)
    if reverse:
        s, a = np.flip(s, axis), np.flip(a, axis)
    return s.astype(x.dtype), a


def gen_cumsum(op):
    cases = []
    for dt in dtypes("numeric"):
        for shape, axis in [((7,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 5), 1), ((0, 3), 1),
                            ((), 0), ((40, 33), 0)]:
            for exclusive in (False, True):
                for reverse in (False, True):
                    x = rand(dt, shape)
                    want, scale = cumsum_ref(x, axis, exclusive, reverse)
                    attrs = {"axis": axis}
                    if exclusive:
                        attrs["exclusive"] = True
                    if reverse:
                        attrs["reverse"] = True
                    cases.append(Case([x], want, attrs, sum_scale=scale))
    for dt in [t for t in dtypes("numeric") if t in INTS]:  # the running sums wrap
        info = np.iinfo(NP_DTYPE[dt])
        big = rand_int(dt, (3, 5), info.max // 4, info.max // 2)
        want, _ = cumsum_ref(big, 1, False, False)
        cases.append(Case([big], want, {"axis": 1}))
    return cases


# ---- Contractions and shape ops -------------------------------------------------------------


def gen_matmul(op):
    cases = []
    for dt in dtypes("numeric"):
        for sa, sb, ta, tb in [((3, 4), (4, 5), False, False), ((4, 3), (4, 5), True, False),
                               ((3, 4), (5, 4), False, True), ((4, 3), (5, 4), True, True),
                               ((2, 3, 4), (4, 5), False, False),
                               ((2, 1, 3, 4), (3, 4, 2), False, False),
                               ((1, 1), (1, 1), False, False), ((3, 0), (0, 5), False, False),
                               ((0, 4), (4, 5), False, False), ((33, 65), (65, 17), False, False),
                               ((2, 64, 64), (2, 64, 64), True, True)]:
            a, b = rand(dt, sa, lo=-3, hi=3), rand(dt, sb, lo=-3, hi=3)
            a_ = np.swapaxes(a, -1, -2) if ta else a
            b_ = np.swapaxes(b, -1, -2) if tb else b
            attrs = {}
            if ta:
                attrs["transpose_a"] = True
            if tb:
                attrs["transpose_b"] = True
            if dt in FLOATS:
                want = np.matmul(wide(a_), wide(b_)).astype(a.dtype)
                scale = np.matmul(np.abs(a_.astype(np.float64)), np.abs(b_.astype(np.float64)))
            else:
                want = np.matmul(a_.astype(np.int64), b_.astype(np.int64)).astype(a.dtype)
                scale = None
            cases.append(Case([a, b], want, attrs, sum_scale=scale))
    return cases


def any_dtype_cases(make):
    cases = []
    for dt in dtypes("any"):
        cases += make(dt)
    return cases


def gen_transpose(op):
    def make(dt):
        cases = []
        for shape, perm in [((3, 4), None), ((3, 4), [1, 0]), ((2, 3, 5), [2, 0, 1]),
                            ((2, 3, 5), [-1, -3, 1]), ((2, 3, 4, 5), [3, 1, 0, 2]), ((), []),
                            ((0, 3), [1, 0]), ((40, 70), [1, 0]),
                            ((2, 3, 1, 2, 2, 3), [5, 0, 3, 1, 4, 2])]:
            x = rand(dt, shape)
            p = None if perm is None else [q % len(shape) for q in perm]
            attrs = {} if perm is None else {"perm": perm}
            cases.append(Case([x], np.transpose(x, p).copy(), attrs))
        return cases
    return any_dtype_cases(make)


def gen_reshape(op):
    def make(dt):
        cases = []
        for shape, new in [((3, 4), [-1]), ((3, 4), [2, -1, 3]), ((2, 3, 5), [5, 6]), ((), [1, 1]),
                           ((1,), []), ((0, 3), [3, -1, 2]), ((6,), [3, 2])]:
            x = rand(dt, shape)
            cases.append(Case([x], np.reshape(x, new), {"shape": new}))
        return cases
    return any_dtype_cases(make)


def gen_expand_dims(op):
    def make(dt):
        cases = []
        for shape, axis in [((3, 4), 0), ((3, 4), 1), ((3, 4), 2), ((3, 4), -1), ((3, 4), -3),
                            ((), 0), ((), -1), ((0, 2), 1)]:
            x = rand(dt, shape)
            cases.append(Case([x], np.expand_dims(x, axis), {"axis": axis}))
        return cases
    return any_dtype_cases(make)


def gen_stop_gradient(op):
    def make(dt):
        return [Case([x], x.copy(), {}) for x in (rand(dt, (3, 4)), rand(dt, ()), rand(dt, (0, 2)))]
    return any_dtype_cases(make)


def gen_squeeze(op):
    def make(dt):
        cases = []
        for shape, axes in [((1, 3, 1), None), ((1, 3, 1), [0]), ((1, 3, 1), [-1]),
                            ((1, 3, 1), [0, 2]), ((1,), None), ((3, 4), None), ((1, 0, 1), None)]:
            x = rand(dt, shape)
            attrs = {} if axes is None else {"axes": axes}
            ax = None if axes is None else tuple(axes)
            cases.append(Case([x], np.squeeze(x, ax), attrs))
        return cases
    return any_dtype_cases(make)


def gen_concat(op):
    def make(dt):
        cases = []
        for shapes, axis in [([(2, 3), (2, 4)], 1), ([(2, 3), (1, 3), (4, 3)], 0),
                             ([(2, 3), (2, 1), (2, 3)], -1), ([(2, 3, 2), (2, 0, 2)], -2),
                             ([(5,)], 0), ([(3,), (4,), (0,), (1,)], 0)]:
            xs = [rand(dt, s) for s in shapes]
            cases.append(Case(xs, np.concatenate(xs, axis), {"axis": axis}))
        return cases
    return any_dtype_cases(make)


def gen_tile(op):
    def make(dt):
        cases = []
        for shape, mult in [((2, 3), [2, 1]), ((2, 3), [1, 3]), ((2, 3), [2, 2]), ((3,), [4]),
                            ((), []), ((2, 3), [0, 2]), ((2, 1, 3), [1, 4, 2])]:
            x = rand(dt, shape)
            cases.append(Case([x], np.tile(x, mult) if mult else x.copy(), {"multiples": mult}))
        return cases
    return any_dtype_cases(make)


def gen_pad(op):
    cases = []
    for dt in dtypes("any"):  # a bool pad value is constant_value != 0
        for shape, pads, value in [((2, 3), [1, 0, 0, 2], 0.0), ((2, 3), [0, 0, 0, 0], 1.0),
                                   ((3,), [2, 3], -1.5 if dt in FLOATS else -2.0),
                                   ((2, 3, 4), [1, 1, 0, 2, 3, 0], 7.0), ((), [], 0.0),
                                   ((0, 2), [1, 1, 0, 1], 2.0)]:
            x = rand(dt, shape)
            pw = [(pads[2 * i], pads[2 * i + 1]) for i in range(len(shape))]
            want = np.pad(x, pw, constant_values=NP_DTYPE[dt](value)) if shape else x.copy()
            cases.append(Case([x], want, {"paddings": pads, "constant_value": value}))
    return cases


def gen_gather(op):
    def make(dt):
        cases = []
        for shape, idx_shape, axis in [((5, 3), (4,), 0), ((5, 3), (2, 2), 1), ((5, 3), (), 0),
                                       ((2, 6, 3), (7,), 1), ((2, 6, 3), (3,), -1),
                                       ((4,), (0,), 0), ((3, 4), (2, 3), -2)]:
            x = rand(dt, shape)
            n = shape[axis]
            # int32 indices, and int64 for every other case.
            idx = RNG.integers(0, n, size=idx_shape).astype(np.int64 if len(cases) % 2 else
                                                            np.int32)
            cases.append(Case([x, idx], np.take(x, idx, axis=axis), {"axis": axis}))
        return cases
    return any_dtype_cases(make)


def gen_unsorted_segment_sum(op):
    # Small integer values keep the float sums exact whatever the summation order.
    def make(dt):
        cases = []
        for shape, ids_rank, segments in [((4, 5), 1, 6), ((4,), 1, 3), ((2, 3, 5), 2, 4),
                                          ((0, 3), 1, 2), ((5, 2), 1, 0)]:
            x = RNG.integers(-8, 9, size=shape).astype(NP_DTYPE[dt])
            ids = RNG.integers(-1, max(segments, 1), size=shape[:ids_rank]).astype(np.int32)
            if segments == 0:
                ids = np.full(shape[:ids_rank], -1, np.int32)
            want = np.zeros((segments,) + shape[ids_rank:], NP_DTYPE[dt])
            flat_x = x.reshape((-1,) + shape[ids_rank:])
            for row, i in zip(flat_x, ids.reshape(-1)):
                if i >= 0:
                    want[i] += row
            cases.append(Case([x, ids], want, {"num_segments": segments}))
        return cases
    return [c for dt in dtypes("numeric") for c in make(dt)]


def gen_one_hot(op):
    """float32 results (no dtype attribute) from int32 indices; every other result dtype from
    int32 and int64 indices (on/off values exact in every dtype)."""
    cases = []
    variants = [("f32", None, "i32")] + [(to, to, it) for to in ["f64", "f16", "bf16", "i32", "i64"]
                                         for it in INTS]
    for to, dtype_attr, it in variants:
        for shape, depth, axis, on, off in [((4,), 3, -1, 1.0, 0.0), ((2, 3), 4, 0, 2.0, -1.0),
                                            ((2, 3), 5, 1, 1.0, 0.0), ((), 3, -1, 5.0, 0.5),
                                            ((0,), 3, -1, 1.0, 0.0), ((3,), 0, -1, 1.0, 0.0)]:
            if dtype_attr is not None and shape in [(), (0,)]:
                continue
            if to in INTS and off == 0.5:
                off = 0.0
            # Out-of-range indices (-1, depth) give all off values, as TF.
            idx = RNG.integers(-1, depth, size=shape, endpoint=True).astype(NP_DTYPE[it])
            hot = np.expand_dims(idx, -1) == np.arange(depth)
            want = np.where(hot, on, off).astype(np.float32 if to == "bf16" else NP_DTYPE[to])
            if axis != -1:
                want = np.moveaxis(want, -1, axis)
            attrs = {"depth": depth, "on_value": on, "off_value": off}
            if dtype_attr is not None:
                attrs["dtype"] = dtype_attr
            if axis != -1 or shape == (4,):
                attrs["axis"] = axis
            cases.append(Case([idx], want, attrs, out_types=[to], label=to))
    # int64 indices beyond int32's range are out of range too (not wrapped to 0, 1, 2).
    idx = np.array([2**32, 2**32 + 1, -2**32 + 2, 2**62 + 2, 1], dtype=np.int64)
    want = (np.expand_dims(idx, -1) == np.arange(3)).astype(np.float32)
    cases.append(Case([idx], want, {"depth": 3, "on_value": 1.0, "off_value": 0.0}, label="f32"))
    return cases


def gen_add_n(op):
    cases = []
    for dt in dtypes("numeric"):
        for n, shape in [(1, (3, 4)), (2, (3, 4)), (3, ()), (4, (33, 17)), (2, (0, 3)),
                         (6, (5,))]:
            xs = [rand(dt, shape) for _ in range(n)]
            if dt in FLOATS:
                want = np.sum([wide(x) for x in xs], axis=0).astype(xs[0].dtype)
                scale = np.sum([np.abs(x.astype(np.float64)) for x in xs], axis=0)
            else:
                want = np.sum(xs, axis=0, dtype=xs[0].dtype)
                scale = None
            cases.append(Case(xs, want, sum_scale=scale))
    return cases


def gen_split(op):
    def make(dt):
        cases = []
        for shape, axis, attrs in [((4, 6), 1, {"num_split": 3}), ((4, 6), -2, {"num_split": 2}),
                                   ((4, 6), 1, {"sizes": [2, -1]}), ((4, 6), 0, {"sizes": [0, 4]}),
                                   ((5,), 0, {"num_split": 1}),
                                   ((2, 7, 3), 1, {"sizes": [1, -1, 2]})]:
            x = rand(dt, shape)
            if "num_split" in attrs:
                parts = np.split(x, attrs["num_split"], axis)
            else:
                sizes = list(attrs["sizes"])
                if -1 in sizes:
                    sizes[sizes.index(-1)] = shape[axis] - (sum(sizes) + 1)
                parts = np.split(x, np.cumsum(sizes)[:-1], axis)
            cases.append(Case([x], [p.copy() for p in parts], dict(attrs, axis=axis)))
        return cases
    return any_dtype_cases(make)


def tf_top_k(x, k):
    """Largest first; NaN counts as the largest value; ties keep the lower index first."""
    rows = x.reshape(-1, x.shape[-1]) if x.size else np.zeros((0, x.shape[-1]), x.dtype)
    vals, idxs = [], []
    for row in rows:
        order = sorted(range(len(row)),
                       key=lambda i: (0 if np.isnan(row[i]) else 1,
                                      -float(row[i]) if not np.isnan(row[i]) else 0, i))[:k]
        vals.append(row[order])
        idxs.append(np.array(order, dtype=np.int32))
    shape = x.shape[:-1] + (k,)
    v = np.array(vals, dtype=x.dtype).reshape(shape)
    i = np.array(idxs, dtype=np.int32).reshape(shape)
    return [v, i]


def gen_top_k(op):
    cases = []
    for dt in dtypes("numeric"):
        for shape, k in [((7,), 3), ((4, 6), 1), ((4, 6), 6), ((2, 3, 5), 2), ((3, 4), 0),
                         ((0, 4), 2), ((5, 40), 7)]:
            x = rand(dt, shape, lo=-4, hi=4)
            if dt in FLOATS:
                x = np.round(x * 2) / 2  # ties
            cases.append(Case([x], tf_top_k(x, k), {"k": k}))
        x = with_nans(dt, (4, 9))
        cases.append(Case([x], tf_top_k(x, 4), {"k": 4}))
    return cases


def gen_strided_slice(op):
    def make(dt):
        cases = []
        # (shape, begin, end, strides, shrink_axis, new_axis, NumPy index)
        for shape, b, e, s, shrink, new, index in [
                ((5,), [1], [4], [1], [], [], np.s_[1:4]),
                ((5,), [4], [-1], [-1], [], [], np.s_[::-1]),
                ((6,), [0], [6], [2], [], [], np.s_[::2]),
                ((2, 3), [1, 0], [-1, 3], [-1, 1], [], [0], np.s_[np.newaxis, ::-1, :]),
                ((2, 3), [0, 2], [2, 3], [1, 1], [1], [], np.s_[:, 2]),
                ((3, 4, 5), [1, 3, 0], [3, 0, 5], [1, -2, 2], [], [], np.s_[1:, 3:0:-2, ::2]),
                ((3, 4), [2, 0], [2, 4], [1, 1], [], [], np.s_[2:2, :]),
                ((4, 3), [1, 0], [2, 3], [1, 1], [0], [0, 2], np.s_[np.newaxis, 1, :, np.newaxis]),
        ]:
            x = rand(dt, shape)
            attrs = {"begin": b, "end": e, "strides": s}
            if shrink:
                attrs["shrink_axis"] = shrink
            if new:
                attrs["new_axis"] = new
            cases.append(Case([x], np.asarray(x[index]).copy(), attrs))
        return cases
    return any_dtype_cases(make)


def gen_strided_update(op):
    """x with the strided_slice box replaced by a value (NumPy's x[index] = value, broadcast)."""
    def make(dt):
        cases = []
        # (shape, begin, end, strides, shrink_axis, new_axis, NumPy index, value shape or None
        # for the box's own shape)
        for shape, b, e, s, shrink, new, index, vshape in [
                ((5,), [1], [4], [1], [], [], np.s_[1:4], None),
                ((5,), [4], [-1], [-1], [], [], np.s_[::-1], ()),
                ((6,), [0], [6], [2], [], [], np.s_[::2], (1,)),
                ((2, 3), [1, 0], [-1, 3], [-1, 1], [], [0], np.s_[np.newaxis, ::-1, :], (3,)),
                ((2, 3), [0, 2], [2, 3], [1, 1], [1], [], np.s_[:, 2], None),
                ((3, 4, 5), [1, 3, 0], [3, 0, 5], [1, -2, 2], [], [], np.s_[1:, 3:0:-2, ::2],
                 (2, 1, 3)),
                ((3, 4), [2, 0], [2, 4], [1, 1], [], [], np.s_[2:2, :], None),
                ((4, 3), [1, 0], [2, 3], [1, 1], [0], [0, 2], np.s_[np.newaxis, 1, :, np.newaxis],
                 None),
        ]:
            x = rand(dt, shape)
            box = np.asarray(x[index]).shape
            v = rand(dt, box if vshape is None else vshape)
            want = x.copy()
            want[index] = v
            attrs = {"begin": b, "end": e, "strides": s}
            if shrink:
                attrs["shrink_axis"] = shrink
            if new:
                attrs["new_axis"] = new
            cases.append(Case([x, v], want, attrs))
        return cases
    return any_dtype_cases(make)


GENERATORS = {
    "const": gen_const,
    "stop_gradient": gen_stop_gradient,
    "unsorted_segment_sum": gen_unsorted_segment_sum,
    "select": gen_select,
    "broadcast": gen_broadcast,
    "cast": gen_cast,
    "leaky_relu": gen_leaky_relu,
    "logical_not": gen_logical_not,
    "reduce_sum": gen_reduce_sum,
    "reduce_mean": gen_reduce_mean,
    "reduce_max": gen_reduce_max,
    "reduce_min": gen_reduce_min,
    "reduce_prod": gen_reduce_prod,
    "reduce_all": gen_reduce_all,
    "reduce_any": gen_reduce_any,
    "argmax": gen_arg,
    "argmin": gen_arg,
    "cumsum": gen_cumsum,
    "matmul": gen_matmul,
    "transpose": gen_transpose,
    "reshape": gen_reshape,
    "expand_dims": gen_expand_dims,
    "squeeze": gen_squeeze,
    "concat": gen_concat,
    "tile": gen_tile,
    "pad": gen_pad,
    "gather": gen_gather,
    "one_hot": gen_one_hot,
    "add_n": gen_add_n,
    "split": gen_split,
    "top_k": gen_top_k,
    "strided_slice": gen_strided_slice,
    "strided_update": gen_strided_update,
}
GENERATORS.update({op: gen_unary for op in UNARY})
GENERATORS.update({op: gen_binary for op in BINARY})
# Ops compiled as loops (the others call their eager kernel from compiled code).
ELEMENTWISE = set(UNARY) | set(BINARY) | {"select", "cast", "leaky_relu", "logical_not",
                                          "broadcast"}


def ops_def_mnemonics():
    with open(os.path.join(ROOT, "ir", "ops.def")) as f:
        return re.findall(r'^KILN_OP\(\s*\w+\s*,\s*"([a-z0-9_]+)"', f.read(), re.M)


def all_cases(op):
    """The generator's cases, then its float32 cases redone in half mode for each half dtype."""
    global HALF
    cases = GENERATORS[op](op)
    if op not in HALF_EXPLICIT:
        for half in HALVES:
            HALF = half
            try:
                cases += GENERATORS[op](op)
            finally:
                HALF = None
    return cases


def main():
    # Overflow, 0/0 and friends are expected in the references (inf and nan are compared).
    np.seterr(all="ignore")
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    opts = [a for a in sys.argv[1:] if a.startswith("-")]
    if len(args) != 1:
        print(__doc__)
        return 2
    tool = args[0]
    only = None
    keep = None
    verbose = "-v" in opts
    for o in opts:
        if o.startswith("--ops="):
            only = o[len("--ops="):].split(",")
        elif o.startswith("--keep="):
            keep = o[len("--keep="):]
        elif o.startswith("--seed="):
            global RNG
            RNG = np.random.default_rng(int(o[len("--seed="):]))

    ops = ops_def_mnemonics()
    failures = []
    missing = [op for op in ops if op not in GENERATORS and op not in SKIP]
    for op in missing:
        failures.append(f"{op}: in ir/ops.def but has no cases here (add a generator or a SKIP "
                        "entry saying why)")
    stale = [op for op in list(GENERATORS) + list(SKIP) if op not in ops]
    for op in stale:
        failures.append(f"{op}: has cases or a SKIP entry here but is not in ir/ops.def")
    todo = [op for op in ops if op in GENERATORS and (only is None or op in only)]

    with tempfile.TemporaryDirectory() as tmp:
        base = keep or tmp

        # Cases are generated on this thread (one RNG, reproducible); kiln-run runs in parallel.
        case_lists = {op: all_cases(op) for op in todo}
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {op: pool.submit(check_op, tool, os.path.join(base, op), op,
                                       case_lists[op], verbose) for op in todo}
            rows = []
            for op in todo:
                row, fails = futures[op].result()
                row["ok"] = not fails
                rows.append(row)
                failures += fails

    order = FLOATS + HALVES + INTS + ["bool"]
    print(f"{'op':<20} {'cases':>5}  {'status':<8}  cases per dtype; max ulp (max rel err) per "
          "float dtype")
    per_dtype = {}
    for r in rows:
        parts = []
        for dt in order:
            n = r["counts"].get(dt, 0)
            per_dtype[dt] = per_dtype.get(dt, 0) + n
            if not n:
                continue
            part = f"{dt}:{n}"
            if dt in r["ulp"]:
                part += f" {r['ulp'][dt]} ({r['rel'][dt]:.2g})"
            parts.append(part)
        print(f"{r['op']:<20} {r['cases']:>5}  {'ok' if r['ok'] else 'MISMATCH':<8}  "
              + ", ".join(parts))
    for op in SKIP:
        if only is None or op in only:
            print(f"{op:<20} {'-':>5}  skipped: {SKIP[op]}")
    total = sum(r["cases"] for r in rows)
    print(f"{len(rows)} ops, {total} cases (" +
          ", ".join(f"{dt} {per_dtype[dt]}" for dt in order if per_dtype.get(dt)) +
          f"), eager and compiled, NumPy {np.__version__}")
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
