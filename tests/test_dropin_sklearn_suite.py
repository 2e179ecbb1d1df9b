"""scikit-learn's own test suite of its MLP, run against nncore's drop-in (issue 13).

Every test function of ``sklearn/neural_network/tests/test_mlp.py`` -- the file
scikit-learn ships with the version installed -- is collected here with its marks
and parameters, and runs with ``MLPClassifier`` / ``MLPRegressor`` replaced by
``nncore.sklearn``'s: in the module's globals (which the test bodies read) and in
the arguments parametrized with scikit-learn's classes.  Nothing of the suite is
copied or changed; a test that fails here is a difference a user would meet.
"""

import functools

import pytest

sk_mlp = pytest.importorskip("sklearn.neural_network.tests.test_mlp")

from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

_OURS = {SkClassifier: MLPClassifier, SkRegressor: MLPRegressor}


@pytest.fixture(autouse=True)
def nncore_estimators(monkeypatch):
    monkeypatch.setattr(sk_mlp, "MLPClassifier", MLPClassifier)
    monkeypatch.setattr(sk_mlp, "MLPRegressor", MLPRegressor)


@pytest.fixture(params=[42])
def global_random_seed(request):
    """scikit-learn's conftest fixture (its default seed)."""
    return request.param


def _ours(value):
    return _OURS.get(value, value) if isinstance(value, type) else value


def _against_nncore(test):
    @functools.wraps(test)  # (keeps the marks, and the signature pytest reads)
    def run(*args, **kwargs):
        return test(*map(_ours, args), **{k: _ours(v) for k, v in kwargs.items()})

    return run


TESTS = sorted(name for name in dir(sk_mlp) if name.startswith("test_"))
globals().update({name: _against_nncore(getattr(sk_mlp, name)) for name in TESTS})


def test_the_suite_is_scikit_learns_and_runs_here():
    assert len(TESTS) >= 40
    assert sk_mlp.__file__.endswith("test_mlp.py") and "sklearn" in sk_mlp.__file__


def test_the_suite_sees_nncores_estimators(request):
    # (the autouse fixture patches the module the test bodies read their globals from)
    assert sk_mlp.MLPClassifier is MLPClassifier and sk_mlp.MLPRegressor is MLPRegressor


def test_parametrized_classes_are_nncores(monkeypatch):
    """A test parametrized with scikit-learn's classes gets nncore's."""

    class Ran(Exception):
        pass

    def spy(self, *args, **kwargs):
        raise Ran(type(self))

    monkeypatch.setattr(MLPRegressor, "_fit", spy)
    with pytest.raises(Ran, match="nncore"):
        globals()["test_mlp_partial_fit_after_fit"](MLPEstimator=SkRegressor)
