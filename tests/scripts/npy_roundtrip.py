#!/usr/bin/env python3
"""kiln — NumPy loads the .npy/.npz files kiln writes, and kiln loads the ones NumPy writes.

Usage: npy_roundtrip.py path/to/kiln_npy_tool. Exits 77 (skipped) when numpy is missing.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed; skipping")
    sys.exit(77)


def main():
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, "write", d], check=True)
        f = np.array([[-1, -0.5, 0], [0.5, 1, 1.5]], dtype="<f4")
        i = np.array([1, -2, 2147483647], dtype="<i4")
        b = np.array([[True, False], [False, True]])
        h = np.array([[0.1, -2.0, 65504.0], [6e-8, 1.5, -0.0]], dtype="<f2")
        dd = np.array([0.1, -1e-300, 1e300], dtype="<f8")
        l = np.array([[-2**63, -1], [2**63 - 1, 2**40]], dtype="<i8")
        for name, want in [("f32", f), ("i32", i), ("bool", b),
                           ("scalar", np.array(2.5, dtype="<f4")),
                           ("f16", h), ("f64", dd), ("i64", l)]:
            got = np.load(os.path.join(d, name + ".npy"))
            assert got.dtype == want.dtype and got.shape == want.shape, (name, got)
            assert got.tobytes() == want.tobytes(), (name, got)
            # Byte for byte what NumPy itself writes for the same array.
            np.save(os.path.join(d, "ref.npy"), want)
            with open(os.path.join(d, name + ".npy"), "rb") as ours, \
                    open(os.path.join(d, "ref.npy"), "rb") as ref:
                assert ours.read() == ref.read(), name
        with np.load(os.path.join(d, "all.npz")) as z:
            assert sorted(z.files) == ["b", "d", "f", "h", "i", "l"], z.files
            for name, want in [("f", f), ("i", i), ("b", b), ("h", h), ("d", dd), ("l", l)]:
                assert z[name].dtype == want.dtype, name
                assert z[name].tobytes() == want.tobytes(), name

        np.save(os.path.join(d, "np_f32.npy"), np.arange(6, dtype="<f4").reshape(2, 3) / 4)
        np.save(os.path.join(d, "np_i32.npy"), np.array([[-7], [8]], dtype="<i4"))
        np.save(os.path.join(d, "np_bool.npy"), np.array([False, True, True]))
        np.save(os.path.join(d, "np_scalar.npy"), np.float32(-3.5))
        np.save(os.path.join(d, "np_empty.npy"), np.zeros((0, 2), dtype="<i4"))
        np.save(os.path.join(d, "np_f16.npy"), np.array([0.1, -65504, 2**-24], dtype="<f2"))
        np.save(os.path.join(d, "np_f64.npy"), np.array([[0.1], [2.0**-1074]], dtype="<f8"))
        np.save(os.path.join(d, "np_i64.npy"), np.array([-2**63, 2**62 + 1], dtype="<i8"))
        np.savez(os.path.join(d, "np.npz"), x=np.array([1.5, 2.5], dtype="<f4"),
                 y=np.array(4, dtype="<i4"))
        out = subprocess.run([tool, "read", d], check=True, capture_output=True,
                             text=True).stdout.splitlines()
        want = [
            "np_f32 float32 [2, 3] 0 0.25 0.5 0.75 1 1.25",
            "np_i32 int32 [2, 1] -7 8",
            "np_bool bool [3] False True True",
            "np_scalar float32 [] -3.5",
            "np_empty int32 [0, 2]",
            "np_f16 float16 [3] 0.0999755859375 -65504 5.9604644775390625e-08",
            "np_f64 float64 [2, 1] 0.10000000000000001 4.9406564584124654e-324",
            "np_i64 int64 [2] -9223372036854775808 4611686018427387905",
            "npz_x float32 [2] 1.5 2.5",
            "npz_y int32 [] 4",
        ]
        assert out == want, "\n".join(out)
    print("npy round trip with NumPy", np.__version__, "OK")


if __name__ == "__main__":
    main()
