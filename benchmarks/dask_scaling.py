#!/usr/bin/env python
"""The scaling model of docs/dask.md, filled in from ONE run of the ``dask`` benchmark group.

Usage::

    pytest benchmarks/test_dask.py --benchmark-json=dask.json   # on a quiet machine
    python benchmarks/dask_scaling.py dask.json                 # the tables of docs/dask.md
    python benchmarks/dask_scaling.py dask.json --rows 1e8 --workers 8 64 512 --bandwidth 1.25e9
    python benchmarks/dask_scaling.py --c 2.4e-6 --t0 0.01 --s 0.001   # the model alone

One L-BFGS evaluation (one step of the distributed sum) on ``W`` workers of one thread,
the rows in ``B = W`` blocks, costs in the model::

    T(W) = c N / W                                 compute: c seconds per row, N rows
         + t0 + s (B + ceil(B/8) + ceil(B/64) + ...)   latency, and s per task (the block
                                                   tasks and the tree of additions)
         + p P (W - 1) / bw + depth(B) 8 (8 P) / bw     parameters out from one worker, the
                                                   gradients back up the tree (8 per adder)

with ``P`` parameters of ``p`` bytes (4 for float32), gradients summed in float64, and
``bw`` the network's bandwidth (an assumption: 1.25e9 bytes/s, 10 Gbit/s).  The run
measures ``c`` (the 1-worker fit's time per evaluation), ``t0`` and ``s`` (the round trips
over 2 and 64 one-row blocks); the 2-worker fit checks the model.  Bytes moved per step:
``p P W`` out and ``8 P (B + ceil(B/8) + ...)`` back -- the issue's ``2 x 8 x P x W`` for a
float64 network with one block per worker.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

SPLIT_EVERY = 8  # nncore.dask.SPLIT_EVERY (not imported: the report runs without Dask)


def tasks(blocks):
    """Block tasks plus the additions of the tree over them."""
    total, level = blocks, blocks
    while level > 1:
        level = math.ceil(level / SPLIT_EVERY)
        total += level
    return total


def depth(blocks):
    return 0 if blocks <= 1 else math.ceil(math.log(blocks, SPLIT_EVERY) - 1e-12)


def measurements(data):
    """What the ``dask`` group of a pytest-benchmark run measured, or None."""
    fits, trips = {}, {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if info.get("group") != "dask":
            continue
        median = bench["stats"]["median"]
        if "evaluations" in info:
            fits[info["workers"]] = dict(info, seconds=median,
                                         per_evaluation=median / info["evaluations"])
        else:
            trips[info["blocks"]] = dict(info, seconds=median)
    if 1 not in fits or len(trips) < 2:
        return None
    (b_lo, lo), (b_hi, hi) = sorted(trips.items())[:1] + sorted(trips.items())[-1:]
    s = max(0.0, (hi["seconds"] - lo["seconds"]) / (tasks(b_hi) - tasks(b_lo)))
    t0 = max(0.0, lo["seconds"] - s * tasks(b_lo))
    one = fits[1]
    overhead = t0 + s * tasks(one["blocks"])
    c = max(0.0, one["per_evaluation"] - overhead) / one["n_samples"]
    return {"fits": fits, "trips": trips, "c": c, "t0": t0, "s": s,
            "n_params": one["n_params"], "itemsize": 4 if one["dtype"] == "float32" else 8,
            "rows": one["n_samples"], "blocks": one["blocks"]}


def step(m, rows, workers, bandwidth, blocks=None):
    """The model's seconds and bytes of one evaluation (see the module docstring)."""
    blocks = workers if blocks is None else blocks
    P = m["n_params"]
    compute = m["c"] * rows / workers
    scheduling = m["t0"] + m["s"] * tasks(blocks)
    transfer = (m["itemsize"] * P * (workers - 1) + depth(blocks) * SPLIT_EVERY * 8 * P) \
        / bandwidth if workers > 1 else 0.0
    moved = m["itemsize"] * P * workers + 8 * P * tasks(blocks)
    return {"compute": compute, "overhead": scheduling + transfer, "bytes": moved,
            "total": compute + scheduling + transfer}


def _fmt_s(x):
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def _fmt_bytes(x):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def _table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def assumed(c, t0, s, n_params=79_510, itemsize=4):
    """The model's parameters given, not measured (784-100-10 float32 by default)."""
    return {"fits": {}, "trips": {}, "c": c, "t0": t0, "s": s, "n_params": n_params,
            "itemsize": itemsize}


def tables(m, rows=1e8, workers=(8, 64, 512), bandwidth=1.25e9):
    """Markdown: what was measured (if anything), then the model's prediction for
    ``rows`` rows."""
    fits = m["fits"]
    out = ["Measured (medians; one L-BFGS evaluation = the fit's time / its evaluations):", ""]
    if not fits:
        out = [f"Model parameters: c = {m['c'] * 1e6:.3g} us per row, t0 = {_fmt_s(m['t0'])}, "
               f"s = {_fmt_s(m['s'])} per task, {m['n_params']:,} parameters of "
               f"{m['itemsize']} bytes.", ""]
        return "\n".join(out + _predicted(m, rows, workers, bandwidth)) + "\n"
    body = []
    for w, fit in sorted(fits.items()):
        predicted = step(m, fit["n_samples"], w, float("inf"), blocks=fit["blocks"])["total"]
        speed = fits[1]["seconds"] / fit["seconds"] if w != 1 else None
        body.append([f"{w} worker{'s' * (w > 1)}", f"{fit['n_samples']:,} x 784 f32",
                     fit["evaluations"], _fmt_s(fit["seconds"]), _fmt_s(fit["per_evaluation"]),
                     _fmt_s(predicted), "-" if speed is None else f"{speed:.2f}x"])
    out.append(_table(["lbfgs fit", "rows", "evaluations", "fit", "per evaluation",
                       "model", "speed-up"], body))
    two = fits.get(2)
    if two is not None:
        verdict = "met" if fits[1]["seconds"] / two["seconds"] >= 1.4 else "MISSED"
        out += ["", f"Issue 14's target, 2 workers >= 1.4x faster than 1: {verdict}."]
    trips = ", ".join(f"{_fmt_s(t['seconds'])} over {b} one-row blocks"
                      for b, t in sorted(m["trips"].items()))
    out += ["", f"Round trip of one evaluation on 2 workers ({m['n_params']:,} parameters): "
            f"{trips}; so t0 = {_fmt_s(m['t0'])} and s = {_fmt_s(m['s'])} per task; "
            f"c = {m['c'] * 1e6:.3g} us per row (784-100-10, float32, one thread).", ""]
    return "\n".join(out + _predicted(m, rows, workers, bandwidth)) + "\n"


def _predicted(m, rows, workers, bandwidth):
    out = []
    base = step(m, rows, 1, bandwidth)
    body = []
    for w in (1, *workers):
        st = step(m, rows, w, bandwidth)
        body.append([f"{w:,}", _fmt_s(st["compute"]), _fmt_s(st["overhead"]),
                     _fmt_bytes(st["bytes"]), _fmt_s(st["total"]),
                     f"{base['total'] / st['total']:.3g}x",
                     f"{100 * base['total'] / st['total'] / w:.0f}%"])
    out.append(f"Predicted, {rows:.3g} rows, one block per worker, bandwidth "
               f"{bandwidth / 1e9:.3g} GB/s:")
    out += ["", _table(["workers", "compute", "overhead", "bytes moved", "per evaluation",
                        "speed-up", "efficiency"], body)]
    if m["c"]:  # where the overhead equals the compute: fewer rows per worker lose
        out.append("")
        for w in workers:
            over = step(m, 0, w, bandwidth)["overhead"]
            out.append(f"- {w:,} workers: the overhead equals the compute at "
                       f"{over / m['c']:,.0f} rows per worker ({over / m['c'] * w:.3g} rows)")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="?",
                        help="pytest-benchmark JSON of a run of benchmarks/test_dask.py")
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 64, 512])
    parser.add_argument("--bandwidth", type=float, default=1.25e9, help="bytes/s (10 Gbit/s)")
    for name, what in (("c", "seconds per row"), ("t0", "seconds per evaluation"),
                       ("s", "seconds per task")):
        parser.add_argument(f"--{name}", type=float, help=f"{what}: instead of the measured")
    args = parser.parse_args(argv)
    given = {k: getattr(args, k) for k in ("c", "t0", "s") if getattr(args, k) is not None}
    if args.json is None:
        if len(given) < 3:
            parser.error("give a benchmark JSON, or all of --c, --t0 and --s")
        m = assumed(**given)
    else:
        with open(args.json) as f:
            m = measurements(json.load(f))
        if m is None:
            print(f"{args.json}: no complete 'dask' group (the 1-worker fit and two round "
                  f"trips)", file=sys.stderr)
            return 1
        m.update(given)
    sys.stdout.write(tables(m, args.rows, args.workers, args.bandwidth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
