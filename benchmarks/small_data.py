"""The drop-in against scikit-learn on scikit-learn's own small data sets, one thread.

    python benchmarks/small_data.py [--rounds 5]

The ``dropin`` group and ``pairs.py`` time MNIST-sized fits, where the matrix products
decide.  On the data sets scikit-learn ships (digits, breast cancer, wine, iris,
diabetes, Friedman #1; standardised, a quarter held out) the fixed costs of a call
decide instead: Python around the kernels, SciPy's L-BFGS-B, validation.  For each data
set and solver (adam, sgd, lbfgs; ``max_iter=300``, the rest scikit-learn's defaults)
the two estimators fit from one parameter dict in interleaved rounds; printed are the
medians, the speed-up, whether both took the same number of iterations, and how far
apart their coefficients end (relative to the largest).  Then, alternating likewise:
``predict`` and ``predict_proba`` of 1 and 100 rows of digits; ``partial_fit`` of 1,
32 and 200 rows (digits, diabetes) after a first call; ``score`` of the held-out
rows; a new estimator's ``fit`` of one iteration (a call's fixed cost);
early-stopping fits (which score the held-out share every epoch); and, with pandas,
``predict``, ``partial_fit``, ``score`` and ``fit`` on a DataFrame and a Series.
Never run it next to another timing job.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from functools import partial

import numpy as np
from harness import limit_threads, median_seconds

SOLVERS = ("adam", "sgd", "lbfgs")


def data_sets():
    """name -> (X_train, X_test, y_train, y_test, classifier?), standardised."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loaders = {"digits": (datasets.load_digits, True),
               "breast cancer": (datasets.load_breast_cancer, True),
               "wine": (datasets.load_wine, True), "iris": (datasets.load_iris, True),
               "diabetes": (datasets.load_diabetes, False),
               "friedman #1": (lambda return_X_y: datasets.make_friedman1(2000, random_state=0),
                               False)}
    out = {}
    for name, (load, classify) in loaders.items():
        X, y = load(return_X_y=True)
        if not classify:
            y = (y - y.mean()) / y.std()
        Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
        scaler = StandardScaler().fit(Xtr)
        out[name] = scaler.transform(Xtr), scaler.transform(Xte), ytr, yte, classify
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR

    from nncore.sklearn import MLPClassifier, MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    sets = data_sets()
    print(f"1 thread, {args.rounds} interleaved rounds, medians\n")
    print("| data set | solver | scikit-learn | nncore | speed-up | iterations | "
          "coefficients apart |")
    print("|---|---|---:|---:|---:|---|---:|")
    with limit_threads(1):
        for name, (Xtr, _, ytr, _, classify) in sets.items():
            for solver in SOLVERS:
                pair = (SkC, MLPClassifier) if classify else (SkR, MLPRegressor)
                times, fitted = ([], []), [None, None]
                for _ in range(args.rounds):
                    for i, Est in enumerate(pair):
                        est = Est(solver=solver, random_state=0, max_iter=300)
                        start = time.perf_counter()
                        est.fit(Xtr, ytr)
                        times[i].append(time.perf_counter() - start)
                        fitted[i] = est
                sk, nn = (statistics.median(t) for t in times)
                a, b = (np.concatenate([c.ravel() for c in e.coefs_]) for e in fitted)
                iters = fitted[0].n_iter_, fitted[1].n_iter_
                print(f"| {name} | {solver} | {sk * 1e3:.1f} ms | {nn * 1e3:.1f} ms | "
                      f"{sk / nn:.1f}x | {'same' if iters[0] == iters[1] else iters} "
                      f"({iters[1]}) | {np.abs(a - b).max() / np.abs(a).max():.0e} |")

        Xtr, Xte, ytr, _, _ = sets["digits"]
        fitted = [Est(random_state=0, max_iter=50).fit(Xtr, ytr)
                  for Est in (SkC, MLPClassifier)]
        print("\n| digits | scikit-learn | nncore | speed-up |")
        print("|---|---:|---:|---:|")
        for rows in (1, 100):
            for method in ("predict", "predict_proba"):
                X = np.ascontiguousarray(Xte[:rows])
                calls = [getattr(e, method) for e in fitted]
                times = ([], [])
                for _ in range(args.rounds):
                    for i, call in enumerate(calls):
                        times[i].append(median_seconds(lambda call=call, X=X: call(X), 50))
                sk, nn = (statistics.median(t) for t in times)
                print(f"| `{method}`, {rows} row{'s' if rows > 1 else ''} | {sk * 1e6:.0f} us | "
                      f"{nn * 1e6:.0f} us | {sk / nn:.1f}x |")

        print("\n| call | scikit-learn | nncore | speed-up |")
        print("|---|---:|---:|---:|")
        for name, pair in (("digits", (SkC, MLPClassifier)), ("diabetes", (SkR, MLPRegressor))):
            Xtr, Xte, ytr, yte, classify = sets[name]
            kw = {"classes": np.unique(ytr)} if classify else {}
            fitted = [Est(random_state=0).partial_fit(Xtr[:200], ytr[:200], **kw)
                      for Est in pair]
            calls = {f"`partial_fit`, {rows} row{'s' if rows > 1 else ''}":
                     [partial(e.partial_fit, Xtr[:rows], ytr[:rows]) for e in fitted]
                     for rows in (1, 32, 200)}
            calls[f"`score`, {len(yte)} rows"] = [partial(e.score, Xte, yte) for e in fitted]
            # (a new estimator's fit of one iteration: what a call costs besides its
            # epochs, paid by every clone of a grid search)
            calls["`fit`, 1 iteration"] = [
                lambda Est=Est, Xtr=Xtr, ytr=ytr: Est(random_state=0, max_iter=1).fit(Xtr, ytr)
                for Est in pair]
            calls["early-stopping fit"] = [
                partial(Est(random_state=0, early_stopping=True, max_iter=300).fit, Xtr, ytr)
                for Est in pair]
            calls.update(_frame_calls(pair, Xtr, Xte, ytr, yte, kw))
            for what, (sk_call, nn_call) in calls.items():
                times = ([], [])
                repeat = 1 if what == "early-stopping fit" else 20
                for _ in range(args.rounds):
                    for i, call in enumerate((sk_call, nn_call)):
                        times[i].append(median_seconds(call, repeat))
                sk, nn = (statistics.median(t) for t in times)
                print(f"| {name}: {what} | {sk * 1e3:.2f} ms | {nn * 1e3:.2f} ms | "
                      f"{sk / nn:.1f}x |")


def _frame_calls(pair, Xtr, Xte, ytr, yte, kw):
    """The same calls on pandas input (a DataFrame of named float columns, labels or
    targets in a Series), as a user of pandas makes them; none without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return {}
    columns = [f"x{i}" for i in range(Xtr.shape[1])]
    Ftr, Fte = pd.DataFrame(Xtr, columns=columns), pd.DataFrame(Xte, columns=columns)
    Str, Ste = pd.Series(ytr), pd.Series(yte)
    fitted = [Est(random_state=0).partial_fit(Ftr[:200], Str[:200], **kw) for Est in pair]
    return {
        "DataFrame: `predict`, 1 row": [partial(e.predict, Fte[:1]) for e in fitted],
        "DataFrame, Series: `partial_fit`, 32 rows": [
            partial(e.partial_fit, Ftr[:32], Str[:32]) for e in fitted],
        f"DataFrame, Series: `score`, {len(yte)} rows": [partial(e.score, Fte, Ste)
                                                         for e in fitted],
        "DataFrame, Series: `fit`, 1 iteration": [
            lambda Est=Est: Est(random_state=0, max_iter=1).fit(Ftr, Str) for Est in pair]}


if __name__ == "__main__":
    main()
