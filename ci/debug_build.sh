#!/usr/bin/env bash
# Debug build: Cython's boundscheck, wraparound and initializedcheck back on,
# compiled -O0 -g (setup.py reads NNCORE_DEBUG=1), in a fresh virtual
# environment built from a copy of the source; then the test suite against it.
# An out-of-range index in a kernel becomes an IndexError instead of a silent
# read or write outside a buffer.
#
#   ci/debug_build.sh                       # the whole suite
#   ci/debug_build.sh tests/test_fuzz.py -x # any pytest arguments
#
# NNCORE_BUILD_DIR=/some/dir keeps the copy, venv and log there (default: a new
# temporary directory, left in place for inspection; its path is printed).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${NNCORE_BUILD_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/nncore-debug.XXXXXX")}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$WORK"
echo "debug build in $WORK"

# shellcheck source=ci/copy_source.sh
source "$ROOT/ci/copy_source.sh"
copy_source "$ROOT" "$WORK/src"

rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
# (pyproject.toml's build requirements: the venv's own setuptools may be older)
"$VPY" -m pip install -q --upgrade "setuptools>=77" wheel "Cython>=3.0" "numpy>=2.0" "scipy>=1.11"
echo "building (NNCORE_DEBUG=1) ..."
if ! NNCORE_DEBUG=1 "$VPY" -m pip install -v --no-build-isolation "$WORK/src[test]" \
        >"$WORK/build.log" 2>&1; then
    tail -n 60 "$WORK/build.log"
    echo "debug build FAILED (log: $WORK/build.log)"
    exit 1
fi
grep -q -- "-O0" "$WORK/build.log" || { echo "the build did not use -O0: NNCORE_DEBUG ignored?"; exit 1; }
# scikit-learn is optional (its tests skip without it); use it when it installs
"$VPY" -m pip install -q "scikit-learn>=1.3" threadpoolctl >/dev/null 2>&1 || true

cd "$WORK/src"
"$VPY" - <<'PY'
import nncore, nncore._kernels as k
print("nncore", nncore.__version__, "from", nncore.__file__)
print("kernels", k.__file__, getattr(k, "BUILD_INFO", ""))
assert "site-packages" in k.__file__, "not testing the installed build"
PY
set +e
"$VPY" -m pytest -p no:cacheprovider -q "${@:-tests}"
status=$?
set -e
echo "debug build test run: exit status $status (work dir $WORK)"
exit $status
