#!/usr/bin/env python
"""Tables for issue 3's closing note, from ONE pytest-benchmark run of ``benchmarks/``.

Usage::

    python benchmarks/report.py RUN.json                # a run made with --benchmark-json=RUN.json
    python benchmarks/report.py                         # runs the full suite first (minutes!)
    python benchmarks/report.py -- --nn-samples 2000 --nn-rounds 1    # a smoke run first
    python benchmarks/report.py --save RUN.json -- -k "epoch or gemm"  # keep the run's JSON

Arguments after ``--`` go to pytest. Per group the report prints: contender, setting, the median
in seconds per 60,000-sample epoch (or per pass over 60,000 rows, or per call for a one-row
predict), samples/s, GFLOP/s by DESIGN.md's model (training ``6 n_in n_out`` per sample and layer
less the first layer's delta, forward ``2 n_in n_out``), the fraction of the GEMM limit (the
``gemm`` group's NumPy median of the same dtype, measured in the same run) and nncore's speed-up
over each other contender at the same setting. Then the scaling tables, issue 3's targets, and the
process's peak RSS. Figures compare only within one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP_ORDER = ("gemm", "epoch", "wide", "predict", "gradient", "scaling", "dask")
CONTENDER_ORDER = ("nncore", "numpy", "torch", "sklearn", "scipy")
GROUP_TITLES = {
    "gemm": "gemm -- the machine limit: (1024x784) @ (784x256), 10 per round, start and end",
    "epoch": "epoch -- one training epoch, 784-30-10, sigmoid + MSE + plain SGD",
    "wide": "wide -- one training epoch, 784-256-256-10",
    "predict": "predict -- output activations",
    "gradient": "gradient -- grad C averaged over all rows, 784-256-256-10",
    "dask": "dask -- nncore.dask: L-BFGS fits on 1 and 2 workers, one evaluation's round trip",
}


# -- reading ---------------------------------------------------------------------------------------
class Row:
    """One benchmark: its median and what extra_info says about it, with the derived rates."""

    def __init__(self, bench):
        info = bench.get("extra_info", {})
        self.name = bench.get("param") or bench["name"]
        self.group = info.get("group", bench.get("group"))
        self.contender = info.get("contender", "?")
        self.dtype = info.get("dtype", "?")
        self.setting = info.get("setting", self.name)
        self.batch_size = info.get("batch_size")
        self.network = info.get("network")
        self.scaling = info.get("scaling")
        self.hidden = info.get("hidden")
        self.n = info.get("n_samples") or 1
        self.nominal = info.get("nominal_samples") or self.n
        self.median = bench["stats"]["median"]
        flops = info.get("flops_per_sample")
        self.seconds = self.median * self.nominal / self.n  # per nominal epoch / pass / call
        self.scaled = self.n != self.nominal
        self.samples_per_s = self.n / self.median
        self.gflops = flops * self.n / self.median / 1e9 if flops else None

    @property
    def key(self):
        return (self.group, self.setting)


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = [Row(b) for b in data.get("benchmarks", []) if "median" in b.get("stats", {})]
    return data, rows


def gemm_limits(rows):
    """GFLOP/s of NumPy's GEMM per dtype: the best of its measurements in this run."""
    limits = {}
    for r in rows:
        if r.group == "gemm" and r.contender == "numpy" and r.gflops:
            limits[r.dtype] = max(limits.get(r.dtype, 0.0), r.gflops)
    return limits


def gemm_drift(rows):
    """Largest relative spread between the GEMM measurements of one contender and dtype."""
    rates = {}
    for r in rows:
        if r.group == "gemm" and r.gflops:
            rates.setdefault((r.contender, r.dtype), []).append(r.gflops)
    spreads = [max(v) / min(v) - 1 for v in rates.values() if len(v) > 1]
    return max(spreads) if spreads else None


def nncore_by_key(rows):
    return {r.key: r for r in rows if r.contender == "nncore"}


# -- formatting ------------------------------------------------------------------------------------
def fmt_seconds(s):
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.3g}M"
    if x >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def fmt_gflops(x):
    return "-" if x is None else f"{x:.3g}"


def fmt_fraction(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def fmt_speedup(x):
    return "-" if x is None else f"{x:.2f}x"


def table(headers, body, align=None):
    """Plain-text table, right-aligned numbers, left-aligned first columns."""
    align = align or ["<"] * 2 + [">"] * (len(headers) - 2)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *body, strict=True)]
    line = "  ".join(f"{h:{a}{w}}" for h, a, w in zip(headers, align, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in body:
        out.append("  ".join(f"{c!s:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True)))
    return "\n".join(line.rstrip() for line in out)


def _sort_key(order):
    def key(row):
        c = row.contender
        return (order[row.key], CONTENDER_ORDER.index(c) if c in CONTENDER_ORDER else 99)

    return key


def _fraction(row, limits):
    limit = limits.get(row.dtype)
    return row.gflops / limit if row.gflops and limit else None


def _speedup(row, nncore):
    ref = nncore.get(row.key)
    if row.contender == "nncore" or ref is None:
        return None
    return row.seconds / ref.seconds


# -- sections --------------------------------------------------------------------------------------
def group_table(group, rows, limits, nncore):
    rows = [r for r in rows if r.group == group]
    if not rows:
        return None
    order = {}
    for r in rows:  # settings in run order
        order.setdefault(r.key, len(order))
    rows.sort(key=_sort_key(order))
    what = {
        "gemm": "per round",
        "predict": "per pass/call",
        "gradient": "per pass",
        "dask": "per fit/call",
    }.get(group, "per epoch")
    headers = [
        "contender",
        "setting",
        f"median {what}",
        "samples/s",
        "GFLOP/s",
        "of GEMM",
        "nncore speed-up",
    ]
    body = []
    for r in rows:
        seconds = fmt_seconds(r.seconds) + (" *" if r.scaled and group != "gemm" else "")
        body.append(
            [
                r.contender,
                r.setting,
                seconds,
                "-" if group == "gemm" else fmt_rate(r.samples_per_s),
                fmt_gflops(r.gflops),
                fmt_fraction(_fraction(r, limits)),
                fmt_speedup(_speedup(r, nncore)),
            ]
        )
    title = GROUP_TITLES.get(group, group)
    return f"## {title}\n\n{table(headers, body)}"


def scaling_tables(rows, limits):
    rows = [r for r in rows if r.group == "scaling"]
    if not rows:
        return None
    parts = ["## scaling -- 784-h-10, batch 10, float64"]

    def by(contender, kind):
        return [r for r in rows if r.contender == contender and r.scaling == kind]

    samples = {c: {r.n: r for r in by(c, "samples")} for c in ("nncore", "numpy")}
    ns = sorted(set(samples["nncore"]) | set(samples["numpy"]))
    if ns:
        body = []
        for n in ns:
            line = [f"{n:,}"]
            for c in ("nncore", "numpy"):
                r = samples[c].get(n)
                full = samples[c].get(ns[-1])
                if r is None:
                    line += ["-", "-", "-"]
                    continue
                linear = r.median / (full.median * n / full.n) if full else None
                line += [
                    fmt_seconds(r.median),
                    f"{r.median / r.n * 1e6:.3g}",
                    "-" if linear is None else f"{linear:.2f}",
                ]
            body.append(line)
        headers = [
            "samples",
            "nncore epoch",
            "us/sample",
            "vs linear",
            "numpy epoch",
            "us/sample",
            "vs linear",
        ]
        parts.append(
            "Samples (hidden 30; 'vs linear' = time / (largest time scaled by n); "
            "1.00 is linear):\n\n" + table(headers, body, ["<"] + [">"] * 6)
        )
    widths = {c: {r.hidden: r for r in by(c, "width")} for c in ("nncore", "numpy")}
    hs = sorted(set(widths["nncore"]) | set(widths["numpy"]))
    if hs:
        body = []
        for h in hs:
            a, b = widths["nncore"].get(h), widths["numpy"].get(h)
            line = [str(h)]
            for r in (a, b):
                line += (
                    ["-", "-", "-"]
                    if r is None
                    else [
                        fmt_seconds(r.seconds) + (" *" if r.scaled else ""),
                        fmt_gflops(r.gflops),
                        fmt_fraction(_fraction(r, limits)),
                    ]
                )
            line.append(fmt_speedup(b.seconds / a.seconds if a and b else None))
            body.append(line)
        headers = [
            "hidden",
            "nncore /60k",
            "GFLOP/s",
            "of GEMM",
            "numpy /60k",
            "GFLOP/s",
            "of GEMM",
            "nncore speed-up",
        ]
        text = table(headers, body, ["<"] + [">"] * 7)
        parts.append("Widths (784-h-10, all samples):\n\n" + text)
    return "\n\n".join(parts)


# Issue 3, item 5: (label, group, setting, contender or None, kind, threshold)
#   kind "speedup": nncore's speed-up over contender >= threshold
#   kind "gemm":    nncore's fraction of the GEMM limit >= threshold
TARGETS = [
    ("epoch b1 f64: >= 5x NumPy", "epoch", "784-30-10 f64 b1", "numpy", "speedup", 5.0),
    ("epoch b10 f64: >= 1.6x NumPy", "epoch", "784-30-10 f64 b10", "numpy", "speedup", 1.6),
    ("epoch b10 f64: >= 8x PyTorch", "epoch", "784-30-10 f64 b10", "torch", "speedup", 8.0),
    ("epoch b1024 f64: >= 1.3x NumPy", "epoch", "784-30-10 f64 b1024", "numpy", "speedup", 1.3),
    ("wide b1024 f64: >= 1x NumPy", "wide", "784-256-256-10 f64 b1024", "numpy", "speedup", 1.0),
    ("wide b1024 f32: >= 1x NumPy", "wide", "784-256-256-10 f32 b1024", "numpy", "speedup", 1.0),
    ("wide b1024 f64: >= 60% GEMM", "wide", "784-256-256-10 f64 b1024", None, "gemm", 0.6),
    ("wide b1024 f32: >= 60% GEMM", "wide", "784-256-256-10 f32 b1024", None, "gemm", 0.6),
    ("wide b32 f64: >= 1.5x NumPy", "wide", "784-256-256-10 f64 b32", "numpy", "speedup", 1.5),
    ("wide b32 f32: >= 1.5x NumPy", "wide", "784-256-256-10 f32 b32", "numpy", "speedup", 1.5),
    ("gradient f64: >= 50% GEMM", "gradient", "784-256-256-10 f64 all rows", None, "gemm", 0.5),
    ("gradient f32: >= 50% GEMM", "gradient", "784-256-256-10 f32 all rows", None, "gemm", 0.5),
]


def targets_table(rows, limits, nncore):
    by_key = {(r.group, r.setting, r.contender): r for r in rows}
    body = []
    for label, group, setting, other, kind, threshold in TARGETS:
        ours = nncore.get((group, setting))
        value = None
        if ours is not None and kind == "speedup":
            theirs = by_key.get((group, setting, other))
            value = theirs.seconds / ours.seconds if theirs else None
            shown = fmt_speedup(value)
        elif ours is not None:
            value = _fraction(ours, limits)
            shown = fmt_fraction(value)
        else:
            shown = "-"
        verdict = "not measured" if value is None else "met" if value >= threshold else "MISSED"
        body.append([label, shown, verdict])
    # float32 >= 1.6x faster than float64, wide at batch 1024
    f64 = nncore.get(("wide", "784-256-256-10 f64 b1024"))
    f32 = nncore.get(("wide", "784-256-256-10 f32 b1024"))
    value = f64.seconds / f32.seconds if f64 and f32 else None
    verdict = "not measured" if value is None else "met" if value >= 1.6 else "MISSED"
    body.append(["wide b1024: f32 >= 1.6x f64", fmt_speedup(value), verdict])
    return "## issue 3 targets (nncore)\n\n" + table(
        ["target", "measured", "verdict"], body, ["<", ">", "<"]
    )


def header(data, rows):
    meta = data.get("nncore_bench", {})
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "?"
    versions = meta.get("versions", {})
    lines = [
        "# nncore benchmarks (issue 3)",
        "",
        f"run: {data.get('datetime', '?')}   machine: {cpu}, {meta.get('cpu_count', '?')} CPUs",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    threads = meta.get("nn_threads")
    pools = meta.get("threadpools")
    if pools:
        pools_text = "; ".join(
            " ".join(filter(None, [p.get("internal_api"), p.get("version")]))
            + f" ({os.path.basename(p['filepath'])}) x{p.get('num_threads')}"
            for p in pools
        )
    else:
        pools_text = "unknown (threadpoolctl not installed)"
    lines.append(
        f"threads: --nn-threads {threads if threads is not None else 'unset'}; "
        f"pools during the run: {pools_text}; torch threads: "
        f"{meta.get('torch_threads') if meta.get('torch_threads') is not None else '-'}"
    )
    nominal = meta.get("nominal_samples", 60000)
    lines.append(
        f"settings: --nn-samples {meta.get('nn_samples', '?')} --nn-rounds "
        f"{meta.get('nn_rounds', '?')} (+1 warm-up) --nn-slow-samples "
        f"{meta.get('nn_slow_samples', '?')}; medians; epoch times are scaled to {nominal:,} "
        "samples, '*' marks rows measured on fewer samples and scaled"
    )
    rss = meta.get("peak_rss_mb")
    lines.append(
        f"peak RSS of the benchmark process: {rss:,.0f} MiB" if rss else "peak RSS: not recorded"
    )
    limits = gemm_limits(rows)
    if limits:
        lines.append(
            "GEMM limit (NumPy BLAS, this run): "
            + ", ".join(f"{d} {g:.3g} GFLOP/s" for d, g in sorted(limits.items()))
        )
    else:
        lines.append("GEMM limit: not measured in this run (include the gemm group)")
    drift = gemm_drift(rows)
    if drift is not None and drift > 0.15:
        lines.append(
            f"WARNING: the GEMM rate changed by {100 * drift:.0f}% between the start and the end "
            "of the run -- the machine was not quiet; do not quote these figures"
        )
    return "\n".join(lines)


def report(data, rows):
    limits = gemm_limits(rows)
    nncore = nncore_by_key(rows)
    sections = [header(data, rows)]
    groups = [g for g in GROUP_ORDER if g not in ("scaling", "dask")]
    groups += sorted({r.group for r in rows} - set(GROUP_ORDER))
    for group in groups:
        text = group_table(group, rows, limits, nncore)
        if text:
            sections.append(text)
    text = scaling_tables(rows, limits)
    if text:
        sections.append(text)
    text = group_table("dask", rows, limits, nncore)
    if text:
        import dask_scaling

        model = dask_scaling.measurements(data)
        sections.append(text if model is None else text + "\n\n" + dask_scaling.tables(model))
    sections.append(targets_table(rows, limits, nncore))
    return "\n\n".join(sections) + "\n"


# -- running ---------------------------------------------------------------------------------------
def run_suite(json_path, pytest_args):
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        HERE,
        f"--benchmark-json={json_path}",
        "-p",
        "no:cacheprovider",
        *pytest_args,
    ]
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=os.path.dirname(HERE), stdout=sys.stderr).returncode


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="?", help="pytest-benchmark JSON; omitted: run the suite")
    parser.add_argument("--save", metavar="FILE", help="where to keep the JSON of a new run")
    args = parser.parse_args(argv)
    status = 0
    if args.json:
        if pytest_args or args.save:
            parser.error("give either a JSON file or pytest arguments / --save, not both")
        path = args.json
    else:
        if args.save:
            path = args.save
        else:
            handle, path = tempfile.mkstemp(prefix="nncore-bench-", suffix=".json")
            os.close(handle)
        status = run_suite(path, pytest_args)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            print(f"pytest exited with {status} and wrote no benchmark JSON", file=sys.stderr)
            return status or 1
    data, rows = load(path)
    if not rows:
        print(f"{path}: no benchmarks with timings", file=sys.stderr)
        return 1
    sys.stdout.write(report(data, rows))
    if not args.json and not args.save:
        os.unlink(path)
    return status


if __name__ == "__main__":
    sys.exit(main())
