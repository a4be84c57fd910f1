#!/usr/bin/python3
"""Reference for `attnsweep data toy`: the notebook's gen_data run with numpy's
legacy global RandomState (np.random.seed(S); gen_data(N); gen_data(M)).

Usage:
  numpy_toy.py toy --seed S --samples N --test-samples M [--noise F] -o OUT.h5
      writes /train/x, /train/y (and /test/x, /test/y when M > 0) as float64
  numpy_toy.py draws --seed S -o OUT.h5
      writes raw draws of each primitive, each from a fresh np.random.seed(S):
      uint32 (1000 MT outputs), rand (1000), randn (1001), randint_5_20 (1000),
      shuffle_10 (np.arange(10) shuffled 5 times in place, rows), choice_3 (1000
      draws of np.random.choice([4,7,9], size=1)[0])

The semantics follow the notebook (including the base series it draws and never
uses); the code is this project's own.
"""
import argparse
import sys

import h5py
import numpy as np


def make_series(positions, heights, shapes, size):
    series = np.zeros((size,))
    for p, h, s in zip(positions, heights, shapes):
        if s == "r":
            series[p - 5:p + 5] = h
        else:
            series[p - 5:p] = np.linspace(start=0.0, stop=h, num=5)
            series[p:p + 5] = np.linspace(stop=0.0, start=h, num=5)
    return series.reshape((-1, 1))


def gen_data(n_samples, noise_level=0.1):
    inputs, outputs = [], []
    shapes = np.array(["t", "r"] * 2)
    n_shapes = len(shapes)
    sz = 100
    region_width = sz // n_shapes
    for _ in range(n_samples):
        np.random.shuffle(shapes)
        index_high_t = np.random.choice(np.where(shapes == "t")[0], size=1)[0]
        index_high_r = np.random.choice(np.where(shapes == "r")[0], size=1)[0]
        _unused = np.random.randn(sz, 1) * noise_level  # drawn, never used
        heights, positions = [], []
        for idx_shape in range(n_shapes):
            pos = idx_shape * region_width + np.random.randint(low=5, high=region_width - 5)
            height = (0.5 + np.random.rand(1)[0]) * 10.0
            if idx_shape in [index_high_r, index_high_t]:
                height += 10.0
            heights.append(height)
            positions.append(pos)
        x = np.random.randn(sz, 1) * noise_level + make_series(positions, heights, shapes, sz)
        nh = np.array(heights)
        for s in ["t", "r"]:
            nh[shapes == s] = nh[shapes == s].mean()
        y = np.random.randn(sz, 1) * noise_level + make_series(positions, nh, shapes, sz)
        inputs.append(x)
        outputs.append(y)
    return np.array(inputs), np.array(outputs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["toy", "draws"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--test-samples", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("-o", required=True)
    a = ap.parse_args()
    with h5py.File(a.o, "w") as f:
        if a.mode == "toy":
            np.random.seed(a.seed)
            x, y = gen_data(a.samples, a.noise)
            f["/train/x"], f["/train/y"] = x, y
            if a.test_samples > 0:
                x, y = gen_data(a.test_samples, a.noise)
                f["/test/x"], f["/test/y"] = x, y
        else:
            np.random.seed(a.seed)
            f["uint32"] = np.random.randint(0, 2**32, size=1000, dtype=np.uint64)
            np.random.seed(a.seed)
            f["rand"] = np.random.rand(1000)
            np.random.seed(a.seed)
            f["randn"] = np.random.randn(1001)
            np.random.seed(a.seed)
            f["randint_5_20"] = np.array([np.random.randint(low=5, high=20) for _ in range(1000)])
            np.random.seed(a.seed)
            arr = np.arange(10)
            rows = []
            for _ in range(5):
                np.random.shuffle(arr)
                rows.append(arr.copy())
            f["shuffle_10"] = np.array(rows)
            np.random.seed(a.seed)
            f["choice_3"] = np.array([np.random.choice(np.array([4, 7, 9]), size=1)[0]
                                      for _ in range(1000)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
