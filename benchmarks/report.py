#!/usr/bin/env python
"""Tables for issues 3, 13 and 16, from ONE pytest-benchmark run of ``benchmarks/``.

Usage::

    python benchmarks/report.py RUN.json                # a run made with --benchmark-json=RUN.json
    python benchmarks/report.py                         # runs the full suite first (minutes!)
    python benchmarks/report.py -- --nn-samples 2000 --nn-rounds 1    # a smoke run first
    python benchmarks/report.py --save RUN.json -- -k "epoch or gemm"  # keep the run's JSON

Arguments after ``--`` go to pytest. Per group the report prints: contender, setting, the median
in seconds per 60,000-sample epoch (or per pass over 60,000 rows, or per call for a one-row
predict), samples/s, GFLOP/s by DESIGN.md's model (training ``6 n_in n_out`` per sample and layer
less the first layer's delta, forward ``2 n_in n_out``), the fraction of the GEMM limit (the
``gemm`` group's NumPy median of the same dtype, measured in the same run, shown only for rows run
on the gemm group's thread count; the ``saturation`` group's, against that GEMM run beside each
round) and nncore's speed-up over each other contender at the same
setting (for the ``epoch`` and ``wide`` groups and the ``predict`` group's passes over all rows on
one thread, the median of the rounds' ratios to nncore's epoch or pass run beside each). Then
the scaling tables; the ``saturation`` and ``optimizer`` groups as ratios to their reference
setting; the ``dropin`` fits with their
held-out accuracy; issue 3's, 13's and 16's targets, each with a verdict computed from this run's
numbers; and the process's peak RSS. Figures compare only within one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP_ORDER = (
    "gemm",
    "epoch",
    "wide",
    "predict",
    "gradient",
    "scaling",
    "saturation",
    "optimizer",
    "dropin",
    "dask",
)
SPECIAL_GROUPS = ("scaling", "saturation", "optimizer", "dropin", "dask")  # tables of their own
CONTENDER_ORDER = ("nncore", "numpy", "torch", "sklearn", "onnxrt", "scipy")
GROUP_TITLES = {
    "gemm": "gemm -- the machine limit: (1024x784) @ (784x256), 10 per round, start and end",
    "epoch": "epoch -- one training epoch, 784-30-10, sigmoid + MSE + plain SGD",
    "wide": "wide -- one training epoch, 784-256-256-10",
    "predict": "predict -- output activations; one row on 1 thread, all rows on 1 and 2 threads "
    "(PyTorch eager under no_grad; onnxrt = ONNX Runtime running nncore.onnx.to_onnx(net))",
    "gradient": "gradient -- grad C averaged over all rows, 784-256-256-10",
    "saturation": "saturation -- one epoch of 784-256-256-10 at batch 1024, sigmoid + MSE + plain "
    "SGD, learning rate 3.0 (the lecture's) against 0.01, at the run's thread count",
    "optimizer": "optimizer -- one epoch of 784-100-10 relu/softmax/cross-entropy at batch 32, "
    "1 thread, by optimiser",
    "dropin": "dropin -- scikit-learn's MLPClassifier against nncore.sklearn.MLPClassifier, "
    "identical parameters and random_state; one whole fit per round",
    "dask": "dask -- nncore.dask: L-BFGS fits on 1 and 2 workers, one evaluation's round trip",
    "sparse": "sparse -- the drop-in against scikit-learn's MLPClassifier on wide CSR input, "
    "one whole fit (or predict_proba) per round",
}
#: the saturation verdicts need the lr-3.0 network saturated: at least this share of its output
#: units, at the start and at the end of its timed epochs (else the target was not put to the test)
SATURATED_SHARE = 0.5
#: "same accuracy (+-0.01)" of issue 13
ACCURACY_TOLERANCE = 0.01


# -- reading ---------------------------------------------------------------------------------------
class Row:
    """One benchmark: its median and what extra_info says about it, with the derived rates."""

    def __init__(self, bench):
        info = bench.get("extra_info", {})
        self.name = bench.get("param") or bench["name"]
        self.group = info.get("group", bench.get("group"))
        self.contender = info.get("contender", "?")
        self.dtype = info.get("dtype", "?")
        self.info = info
        self.setting = info.get("setting", self.name)
        self.threads = info.get("threads")
        self.variant = info.get("variant")
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


def gemm_threads(rows):
    """Thread counts the gemm group ran at (empty for runs that did not record them)."""
    return {r.threads for r in rows if r.group == "gemm" and r.threads is not None}


def nncore_by_key(rows):
    return {r.key: r for r in rows if r.contender == "nncore"}


def by_name(rows):
    return {r.name: r for r in rows}


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


def _fraction(row, limits, threads=None):
    """The row's share of the GEMM limit; None when it ran on another thread count than the gemm
    group (``threads``: the gemm group's counts, None or empty when not recorded)."""
    limit = limits.get(row.dtype)
    if threads and row.threads is not None and row.threads not in threads:
        return None
    if row.info.get("gemm_fraction") is not None:  # (against the GEMM run beside each round)
        return row.info["gemm_fraction"]
    return row.gflops / limit if row.gflops and limit else None


def _ratio(row, names):
    """The row's time over its reference's: the median of the rounds' ratios to the reference
    run beside each (extra_info "interleaved_ratio", the optimizer group), else over the
    reference row's median (extra_info "reference", a benchmark id)."""
    if row.info.get("interleaved_ratio") is not None:
        return row.info["interleaved_ratio"]
    ref = names.get(row.info.get("reference"))
    return row.median / ref.median if ref is not None and ref.n == row.n else None


def _share(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def _beside_nncore(row):
    """The median of the rounds' ratios of the row's time to nncore's run beside each
    (extra_info "beside", the predict group's passes over all rows), else None."""
    if row is None or row.info.get("beside") != "nncore":
        return None
    return row.info.get("interleaved_ratio")


def _speedup(row, nncore):
    ref = nncore.get(row.key)
    if row.contender == "nncore" or ref is None:
        return None
    beside = _beside_nncore(row)
    return beside if beside is not None else row.seconds / ref.seconds


# -- sections --------------------------------------------------------------------------------------
def group_table(group, rows, limits, nncore, threads=None):
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
                fmt_fraction(_fraction(r, limits, threads)),
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
            value = _beside_nncore(theirs) or (theirs.seconds / ours.seconds if theirs else None)
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


def _ordered(rows, group):
    """The group's rows in run order (pytest-benchmark keeps it in the JSON)."""
    return [r for r in rows if r.group == group]


def _pair(start, end):
    if start is None or end is None:
        return "-"
    return f"{_share(start)} -> {_share(end)}"


def saturation_table(rows, limits, names, threads):
    rows = _ordered(rows, "saturation")
    if not rows:
        return None
    body = []
    for r in rows:
        i = r.info
        body.append(
            [
                r.dtype,
                f"{i.get('learning_rate', '?'):g}" if "learning_rate" in i else "?",
                str(r.threads),
                fmt_seconds(r.seconds) + (" *" if r.scaled else ""),
                fmt_gflops(r.gflops),
                fmt_fraction(_fraction(r, limits, threads)),
                _pair(i.get("saturated_start"), i.get("saturated_end")),
                _pair(i.get("subnormal_start"), i.get("subnormal_end")),
                fmt_speedup(_ratio(r, names)),
            ]
        )
    headers = [
        "dtype",
        "lr",
        "threads",
        "median per epoch",
        "GFLOP/s",
        "of GEMM",
        "saturated outputs",
        "subnormal deltas",
        "time / lr 0.01",
    ]
    note = (
        "'saturated outputs': share of output units with a(1-a) < 1e-6 on 1,024 rows, before -> "
        "after the timed epochs (the networks first train untimed until 32 minibatch updates are "
        "done); 'subnormal deltas': share of the output deltas 2(a-y)a(1-a), computed in the "
        "network's dtype, that are subnormal."
    )
    return (
        f"## {GROUP_TITLES['saturation']}\n\n"
        + table(headers, body, ["<"] * 3 + [">"] * 6)
        + f"\n\n{note}"
    )


def optimizer_table(rows, names):
    rows = _ordered(rows, "optimizer")
    if not rows:
        return None
    body = [
        [
            r.dtype,
            r.variant or "?",
            str(r.threads),
            fmt_seconds(r.seconds) + (" *" if r.scaled else ""),
            fmt_rate(r.samples_per_s),
            fmt_gflops(r.gflops),
            fmt_speedup(_ratio(r, names)),
        ]
        for r in rows
    ]
    headers = ["dtype", "optimizer", "threads", "median per epoch", "samples/s", "GFLOP/s", "/ SGD"]
    text = table(headers, body, ["<"] * 3 + [">"] * 4)
    opts = {r.variant: r.info.get("optimizer") for r in rows if r.info.get("optimizer")}
    note = (
        "/ SGD: the median over the rounds of each epoch's time over an SGD epoch run beside it "
        "(before or after, alternately), where the run recorded them.  optimisers: "
        + "; ".join(f"{k} = {v}" for k, v in opts.items())
    )
    return f"## {GROUP_TITLES['optimizer']}\n\n{text}\n\n{note}"


def _dropin_pairs(rows):
    """{(solver, threads): {contender: row}} for the dropin group, in run order."""
    pairs = {}
    for r in _ordered(rows, "dropin"):
        pairs.setdefault((r.variant, r.threads), {})[r.contender] = r
    return pairs


def dropin_table(rows):
    pairs = _dropin_pairs(rows)
    if not pairs:
        return None
    body = []
    small = []
    for (solver, threads), by_contender in pairs.items():
        ours = by_contender.get("nncore")
        for contender in ("nncore", "sklearn"):
            r = by_contender.get(contender)
            if r is None:
                continue
            i = r.info
            if i.get("issue_rows") and r.n < i["issue_rows"]:
                small.append(f"{solver}: {r.n:,} rows (the issue's: {i['issue_rows']:,})")
            speedup = r.median / ours.median if ours is not None and r is not ours else None
            beside = _beside_nncore(r)
            if beside is not None:
                speedup = beside
            accuracy = i.get("accuracy")
            body.append(
                [
                    contender,
                    solver,
                    f"{r.n:,}",
                    str(threads),
                    fmt_seconds(r.median),
                    "-" if accuracy is None else f"{accuracy:.4f}",
                    str(i.get("n_iter", "-")),
                    fmt_speedup(speedup),
                ]
            )
    headers = [
        "contender",
        "solver",
        "rows",
        "threads",
        "median per fit",
        "held-out accuracy",
        "n_iter_",
        "nncore speed-up",
    ]
    text = f"## {GROUP_TITLES['dropin']}\n\n" + table(headers, body, ["<", "<"] + [">"] * 6)
    if small:
        text += "\n\nSmaller than the issue's set-up (a smoke run; do not quote): " + "; ".join(
            dict.fromkeys(small)
        )
    return text


# -- verdicts --------------------------------------------------------------------------------------
def _verdict(value, threshold, op):
    if value is None:
        return "not measured"
    ok = {">=": value >= threshold, "<=": value <= threshold, ">": value > threshold}[op]
    return "met" if ok else "MISSED"


def _targets_section(title, body):
    return f"## {title}\n\n" + table(["target", "measured", "verdict"], body, ["<", ">", "<"])


def _speedup_target(names, label, ours, theirs, threshold, op=">="):
    a, b = names.get(ours), names.get(theirs)
    value = b.median / a.median if a and b and a.n == b.n else None
    if a is not None and a.contender == "nncore" and _beside_nncore(b) is not None:
        value = _beside_nncore(b)
    return [label, fmt_speedup(value), _verdict(value, threshold, op)]


def issue13_targets(rows):
    """Drop-in against scikit-learn: speed-up at 1 thread with the same held-out accuracy; the
    2-thread figures reported, their accuracy checked."""
    pairs = _dropin_pairs(rows)
    body = []
    for solver, threads, threshold in (
        ("adam", 1, 2.0),
        ("lbfgs", 1, 1.5),
        ("adam", 2, None),
        ("lbfgs", 2, None),
    ):
        what = "defaults (adam), 10 epochs" if solver == "adam" else "lbfgs, 100 iterations"
        label = f"drop-in {what}, {threads} thread{'s' if threads > 1 else ''}: "
        label += (
            f">= {threshold:g}x scikit-learn, accuracy +-{ACCURACY_TOLERANCE:g}"
            if threshold
            else "reported, accuracy +-0.01"
        )
        pair = pairs.get((solver, threads), {})
        ours, theirs = pair.get("nncore"), pair.get("sklearn")
        if ours is None or theirs is None:
            body.append([label, "-", "not measured"])
            continue
        speedup = theirs.median / ours.median
        measured = fmt_speedup(speedup)
        beside = _beside_nncore(theirs)
        if beside is not None:  # (the verdict's: rounds interleaved, see test_dropin)
            measured = f"{fmt_speedup(beside)} interleaved ({measured} case against case)"
            speedup = beside
        acc_a, acc_b = ours.info.get("accuracy"), theirs.info.get("accuracy")
        diff = abs(acc_a - acc_b) if acc_a is not None and acc_b is not None else None
        measured += f", accuracy {acc_a:.4f} vs {acc_b:.4f}"
        it_a, it_b = ours.info.get("n_iter"), theirs.info.get("n_iter")
        if it_a != it_b:
            measured += f", n_iter_ {it_a} vs {it_b}"
        if diff is None:
            verdict = "not measured"
        elif diff > ACCURACY_TOLERANCE + 1e-12:
            verdict = f"MISSED (accuracy differs by {diff:.4f})"
        elif threshold is None:
            verdict = "accuracy same (no speed target)"
        else:
            verdict = _verdict(speedup, threshold, ">=")
        issue_rows = ours.info.get("issue_rows")
        if verdict != "not measured" and issue_rows and ours.n < issue_rows:
            verdict += f" [{ours.n:,} rows, not {issue_rows:,}]"
        body.append([label, measured, verdict])
    return _targets_section("issue 13 targets (the drop-in against scikit-learn)", body)


def _saturation_target(names, dtype):
    short = {"float32": "f32", "float64": "f64"}[dtype]
    label = f"saturation {short}: lr 3.0 epoch <= 1.1x lr 0.01 epoch"
    hot = names.get(f"nncore-{short}-b1024-wide-lr3")
    if hot is None:
        return [label, "-", "not measured"]
    value = _ratio(hot, names)
    shares = [hot.info.get("saturated_start"), hot.info.get("saturated_end")]
    verdict = _verdict(value, 1.1, "<=")
    if value is not None and (None in shares or min(shares) < SATURATED_SHARE):
        low = min(x for x in shares if x is not None) if any(x is not None for x in shares) else 0
        verdict = f"INCONCLUSIVE (lr 3.0 saturated only {_share(low)} of the outputs)"
    return [label, fmt_speedup(value), verdict]


def issue16_targets(rows, limits, names, threads):
    body = [_saturation_target(names, d) for d in ("float32", "float64")]
    hot = names.get("nncore-f32-b1024-wide-lr3")
    label = "saturation f32 lr 3.0: >= 75% of the GEMM limit"
    if hot is None:
        body.append([label, "-", "not measured"])
    elif threads and hot.threads not in threads:
        body.append([label, "-", "not measured (gemm ran on another thread count)"])
    else:
        value = _fraction(hot, limits, threads)
        body.append([label, fmt_fraction(value), _verdict(value, 0.75, ">=")])
    for short in ("f64", "f32"):
        for variant, threshold in (("adam", 1.3), ("momentum", 1.15), ("nesterov", 1.15)):
            row = names.get(f"nncore-{short}-b32-{variant}-t1")
            value = _ratio(row, names) if row is not None else None
            label = f"optimizer {short} b32: {variant} epoch <= {threshold:g}x SGD epoch"
            body.append([label, fmt_speedup(value), _verdict(value, threshold, "<=")])
    body += [
        _speedup_target(
            names,
            "predict 1 row 784-30-10 f64: >= 2x PyTorch",
            "nncore-f64-n1-t1",
            "torch-f64-n1-t1",
            2.0,
        ),
        _speedup_target(
            names,
            "predict 1 row 784-30-10 f64: no slower than ONNX Runtime",
            "nncore-f64-n1-t1",
            "onnxrt-f64-n1-t1",
            1.0,
        ),
    ]
    for short in ("f64", "f32"):
        body.append(
            _speedup_target(
                names,
                f"predict 1 row 784-256-256-10 {short}: >= 1.2x PyTorch",
                f"nncore-{short}-wide-n1-t1",
                f"torch-{short}-wide-n1-t1",
                1.2,
            )
        )
    body += [
        _speedup_target(
            names,
            "predict all rows 784-30-10 f64, 1 thread: >= 1.1x PyTorch",
            "nncore-f64-nall-t1",
            "torch-f64-nall-t1",
            1.1,
        ),
        _speedup_target(
            names,
            "predict all rows 784-30-10 f64, 2 threads: ahead of PyTorch (> 1x)",
            "nncore-f64-nall-t2",
            "torch-f64-nall-t2",
            1.0,
            ">",
        ),
    ]
    return _targets_section("issue 16 targets (speed, round two)", body)


def header(data, rows):
    meta = data.get("nncore_bench", {})
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "?"
    versions = meta.get("versions", {})
    lines = [
        "# nncore benchmarks (issues 3, 13 and 16)",
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
        counts = sorted(gemm_threads(rows))
        on = f" on {'/'.join(map(str, counts))} threads" if counts else ""
        lines.append(
            f"GEMM limit (NumPy BLAS, this run{on}): "
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
    threads = gemm_threads(rows)
    nncore = nncore_by_key(rows)
    names = by_name(rows)
    sections = [header(data, rows)]
    groups = [g for g in GROUP_ORDER if g not in SPECIAL_GROUPS]
    groups += sorted({r.group for r in rows} - set(GROUP_ORDER))
    for group in groups:
        text = group_table(group, rows, limits, nncore, threads)
        if text:
            sections.append(text)
    for text in (
        scaling_tables(rows, limits),
        saturation_table(rows, limits, names, threads),
        optimizer_table(rows, names),
        dropin_table(rows),
    ):
        if text:
            sections.append(text)
    text = group_table("dask", rows, limits, nncore, threads)
    if text:
        import dask_scaling

        model = dask_scaling.measurements(data)
        sections.append(text if model is None else text + "\n\n" + dask_scaling.tables(model))
    sections.append(targets_table(rows, limits, nncore))
    sections.append(issue13_targets(rows))
    sections.append(issue16_targets(rows, limits, names, threads))
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
