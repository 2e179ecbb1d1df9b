#!/usr/bin/env bash
# AddressSanitizer build: the extension compiled with -fsanitize=address
# (setup.py reads NNCORE_SANITIZE=address), in a fresh virtual environment built
# from a copy of the source; then the test suite with libasan preloaded, so any
# read or write outside a heap buffer by a kernel aborts with a report.
#
#   ci/asan.sh                        # the whole suite
#   ci/asan.sh tests/test_fuzz.py -x  # any pytest arguments
#
# Leak detection is off: CPython itself does not free everything at exit.
# Reports go to $WORK/asan.<pid> (any report fails the run) and abort the process.
# NNCORE_BUILD_DIR=/some/dir keeps the copy, venv and logs there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${NNCORE_BUILD_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/nncore-asan.XXXXXX")}"
PYTHON="${PYTHON:-python3}"
CC="${CC:-gcc}"
mkdir -p "$WORK"
echo "ASan build in $WORK"

# shellcheck source=ci/copy_source.sh
source "$ROOT/ci/copy_source.sh"
copy_source "$ROOT" "$WORK/src"

LIBASAN="$("$CC" -print-file-name=libasan.so)"
if [ ! -e "$LIBASAN" ]; then
    echo "libasan.so not found ($CC -print-file-name=libasan.so gave '$LIBASAN')"
    exit 1
fi
# libstdc++ preloaded too: ASan intercepts __cxa_throw and must find the real one
# at start-up, or the first C++ exception in another extension (matplotlib's
# ft2font) aborts with "CHECK failed: real___cxa_throw != 0".
PRELOAD="$LIBASAN"
LIBSTDCXX="$("$CC" -print-file-name=libstdc++.so.6)"
[ -e "$LIBSTDCXX" ] && PRELOAD="$LIBASAN:$LIBSTDCXX"

rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
# (pyproject.toml's build requirements: the venv's own setuptools may be older)
"$VPY" -m pip install -q --upgrade "setuptools>=77" wheel "Cython>=3.0" "numpy>=2.0" "scipy>=1.11"
echo "building (NNCORE_SANITIZE=address) ..."
if ! CC="$CC" NNCORE_SANITIZE=address "$VPY" -m pip install -v --no-build-isolation \
        "$WORK/src[test]" >"$WORK/build.log" 2>&1; then
    tail -n 60 "$WORK/build.log"
    echo "ASan build FAILED (log: $WORK/build.log)"
    exit 1
fi
grep -q -- "-fsanitize=address" "$WORK/build.log" \
    || { echo "the build did not use -fsanitize=address: NNCORE_SANITIZE ignored?"; exit 1; }
"$VPY" -m pip install -q "scikit-learn>=1.3" threadpoolctl >/dev/null 2>&1 || true

cd "$WORK/src"
rm -f "$WORK"/asan.*  # reports of an earlier run in the same directory
# allocator_may_return_null: an absurd allocation (tests ask for terabytes on
# purpose) must fail as malloc does, so numpy raises MemoryError, not abort
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1:log_path=$WORK/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
LD_PRELOAD="$PRELOAD" "$VPY" - <<'PY'
import nncore, nncore._kernels as k
print("nncore", nncore.__version__, "from", nncore.__file__)
print("kernels", k.__file__, getattr(k, "BUILD_INFO", ""))
assert "site-packages" in k.__file__, "not testing the installed build"
PY
# the extension really is instrumented
SO="$(LD_PRELOAD="$PRELOAD" "$VPY" -c 'import nncore._kernels as k; print(k.__file__)')"
# (no grep -q: it would close the pipe early and pipefail would report nm's SIGPIPE)
nm -D "$SO" | grep __asan_init >/dev/null \
    || { echo "the extension has no ASan instrumentation"; exit 1; }
set +e
LD_PRELOAD="$PRELOAD" "$VPY" -m pytest -p no:cacheprovider -q "${@:-tests}"
status=$?
set -e
# a report is an ERROR; a WARNING (e.g. a refused terabyte allocation) is not
errors=$(grep -l "ERROR: AddressSanitizer" "$WORK"/asan.* 2>/dev/null || true)
if [ -n "$errors" ]; then
    echo "AddressSanitizer reported errors:"
    for f in $errors; do echo "== $f"; head -n 60 "$f"; done
    status=1
else
    echo "AddressSanitizer: no errors reported"
    for f in "$WORK"/asan.*; do [ -e "$f" ] && { echo "(warning in $f:)"; head -n 3 "$f"; }; done
fi
echo "ASan test run: exit status $status (work dir $WORK)"
exit $status
