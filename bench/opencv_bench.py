#!/usr/bin/env python3
"""opencv_bench.py — times OpenCV DNN (Debian python3-opencv) on one ONNX model,
the way `kiln bench` times Kiln: cv2.dnn.readNetFromONNX, DNN_BACKEND_OPENCV,
DNN_TARGET_CPU, cv2.setNumThreads(--threads); warm-up, then a timed loop of
setInput + forward until both --iterations and --seconds are reached, one
wall-clock latency per run (time.perf_counter). Prints one machine-readable line
  RESULT engine=opencv batch=B iters=N min_ms=.. median_ms=.. p90_ms=.. mean_ms=.. images_per_s=..
that bench/peers.sh parses. Percentiles are nearest-rank, as in kiln bench.

  python3 bench/opencv_bench.py model.onnx input.bin NxCxHxW [--threads=2] [--seconds=3]
          [--iterations=10] [--warmup_ms=200] [--save=out.bin]

--save writes the output of one untimed run (raw float32) for checking.
Non-goals: several inputs or outputs, OpenCV's other backends/targets.
"""
import math
import sys
import time

import cv2
import numpy as np


def parse(argv):
    opt = {"threads": 2, "seconds": 3.0, "iterations": 10, "warmup_ms": 200.0, "save": ""}
    pos = []
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            if k not in opt:
                raise SystemExit(f"opencv_bench.py: unknown flag --{k}")
            opt[k] = type(opt[k])(v)
        else:
            pos.append(a)
    if len(pos) != 3:
        raise SystemExit("usage: opencv_bench.py model.onnx input.bin NxCxHxW [--threads=2] "
                         "[--seconds=3] [--iterations=10] [--warmup_ms=200] [--save=F]")
    return pos, opt


def pct(v, p):
    """Nearest-rank percentile of the sorted list v (same rule as kiln bench)."""
    k = min(max(math.ceil(p / 100.0 * len(v)), 1), len(v))
    return v[k - 1]


def main():
    (model, inp, shape), opt = parse(sys.argv[1:])
    dims = [int(d) for d in shape.split("x")]
    x = np.fromfile(inp, dtype="<f4")
    if x.size != int(np.prod(dims)):
        raise SystemExit(f"opencv_bench.py: {inp}: {x.size} floats, shape {shape} needs {np.prod(dims)}")
    x = x.reshape(dims)
    cv2.setNumThreads(int(opt["threads"]))
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    net.setInput(x)
    out = net.forward()  # untimed: the output to check, and the first warm-up
    if opt["save"]:
        np.ascontiguousarray(out, dtype="<f4").tofile(opt["save"])
    w0 = time.perf_counter()
    while (time.perf_counter() - w0) * 1e3 < opt["warmup_ms"]:
        net.setInput(x)
        net.forward()

    lat = []
    b0 = time.perf_counter()
    while len(lat) < opt["iterations"] or time.perf_counter() - b0 < opt["seconds"]:
        t = time.perf_counter()
        net.setInput(x)
        net.forward()
        lat.append((time.perf_counter() - t) * 1e3)
    wall = time.perf_counter() - b0
    lat.sort()
    mean = sum(lat) / len(lat)
    print(f"RESULT engine=opencv batch={dims[0]} iters={len(lat)} min_ms={lat[0]:.4f} "
          f"median_ms={pct(lat, 50):.4f} p90_ms={pct(lat, 90):.4f} mean_ms={mean:.4f} "
          f"images_per_s={len(lat) * dims[0] / wall:.2f}", flush=True)


if __name__ == "__main__":
    main()
