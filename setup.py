"""Build the one compiled extension, nncore._kernels; all metadata is in pyproject.toml.

Environment variables (wheels set neither):

NNCORE_DEBUG=1
    Cython's boundscheck, wraparound and initializedcheck back on, compiled
    with -O0 -g (MSVC: /Od /Zi), for hunting a crash.
NNCORE_SANITIZE=address (or any -fsanitize= value)
    adds -fsanitize=<value> -fno-omit-frame-pointer to compile and link (GCC/Clang).
NNCORE_OPENMP=0
    builds without OpenMP even where the compiler has it.  By default OpenMP is
    used when a test program compiles and links with it (GCC, MSVC, LLVM clang;
    Apple's clang has no OpenMP unless libomp is installed and it is told so),
    and the build goes on without it otherwise: training then runs on one thread,
    with the same results.

Flags are chosen by compiler type (GCC/Clang and MSVC spell them differently), in
a build_ext subclass that cythonizes at build time, so that an sdist needs no
generated C.  Never -march=native: a wheel must run on every CPU of its tag.
"""

import glob
import os
import tempfile

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("NNCORE_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("NNCORE_SANITIZE", "")
OPENMP = os.environ.get("NNCORE_OPENMP", "") not in ("0", "false", "no")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# compiler_type -> (release flags, debug flags)
OPT_FLAGS = {
    # -fno-math-errno: sqrt and friends may vectorise (nothing reads errno)
    "unix": (["-O3", "-fno-math-errno"], ["-O0", "-g"]),  # GCC and Clang, on Linux and macOS
    "mingw32": (["-O3", "-fno-math-errno"], ["-O0", "-g"]),
    "cygwin": (["-O3", "-fno-math-errno"], ["-O0", "-g"]),
    "msvc": (["/O2"], ["/Od", "/Zi"]),
}

# compiler_type -> (compile flags, link flags) for OpenMP
OPENMP_FLAGS = {
    "unix": (["-fopenmp"], ["-fopenmp"]),
    "mingw32": (["-fopenmp"], ["-fopenmp"]),
    "cygwin": (["-fopenmp"], ["-fopenmp"]),
    "msvc": (["/openmp"], []),
}

OPENMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 && omp_get_max_threads() > 0 ? 0 : 1;
}
"""


def openmp_flags(compiler):
    """(compile, link) flags for OpenMP if a test program builds with them, else None."""
    cflags, lflags = OPENMP_FLAGS[compiler.compiler_type]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=lflags)
        except Exception as exc:  # CompileError, LinkError: either way, no OpenMP here
            print(f"nncore: building without OpenMP ({type(exc).__name__})")
            return None
    return cflags, lflags


class BuildExt(build_ext):
    """Cythonize, then pick the compile and link flags for the compiler in use."""

    def build_extensions(self):
        from Cython import __version__ as cython_version
        from Cython.Build import cythonize

        ctype = self.compiler.compiler_type
        if ctype not in OPT_FLAGS:
            raise RuntimeError(
                f"setup.py has no flags for compiler type {ctype!r}; add it to OPT_FLAGS"
            )
        release, debug = OPT_FLAGS[ctype]
        compile_args = list(debug if DEBUG else release)
        link_args = []
        if ctype == "msvc" and DEBUG:
            link_args.append("/DEBUG")
        if SANITIZE:
            if ctype == "msvc":
                raise RuntimeError("NNCORE_SANITIZE is supported with GCC/Clang only")
            compile_args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"]
            link_args += [f"-fsanitize={SANITIZE}"]
        omp = openmp_flags(self.compiler) if OPENMP else None
        if omp:
            compile_args += omp[0]
            link_args += omp[1]

        # Build facts, readable at run time as nncore._kernels.BUILD_INFO (the .pyx
        # turns this compile-time constant into a dict; see _show_versions.py).
        info = (
            ("cython", cython_version),
            ("debug", DEBUG),
            ("sanitize", SANITIZE),
            ("openmp", bool(omp)),
            ("compiler", ctype),
            ("cflags", " ".join(compile_args)),
        )
        # The generated C depends on the directives and on `info`, which cythonize's
        # timestamp check cannot see: one build folder per configuration, so that a
        # debug build never reuses release C (or the reverse).  Under build/, so the
        # generated C is never in git, the sdist or the wheel.
        config = f"cython-{cython_version}-{ctype}-{'debug' if DEBUG else 'release'}"
        config += "-openmp" if omp else ""
        if SANITIZE:
            config += f"-{SANITIZE}"
        generated = cythonize(
            self.extensions,
            compiler_directives=DIRECTIVES,
            compile_time_env={"NNCORE_BUILD_INFO": info},
            build_dir=os.path.join("build", config),
        )
        # keep setuptools' own Extension objects (finalize_options annotated them);
        # take only the generated sources from cythonize's copies
        by_name = {ext.name: ext for ext in generated}
        for ext in self.extensions:
            ext.sources = by_name[ext.name].sources
            ext.extra_compile_args = compile_args + list(ext.extra_compile_args)
            ext.extra_link_args = link_args + list(ext.extra_link_args)
        print(f"nncore: {ctype} compiler, compile {compile_args}, link {link_args}")
        super().build_extensions()


extensions = [
    Extension(
        "nncore._kernels",
        ["src/nncore/_kernels.pyx"],
        # hand-written C headers the .pyx includes: on the include path wherever the
        # generated C lands, rebuilt when they change, and shipped in the sdist
        depends=sorted(glob.glob("src/nncore/*.h")),
        include_dirs=[np.get_include(), "src/nncore"],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("NNCORE_DEBUG_BUILD", "1" if DEBUG else "0"),
        ],
    )
]

setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
