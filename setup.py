"""Build the one compiled extension, nncore._kernels; all metadata is in pyproject.toml.

Environment variables (wheels set neither):

NNCORE_DEBUG=1
    Cython's boundscheck, wraparound and initializedcheck back on, compiled
    with -O0 -g (MSVC: /Od /Zi), for hunting a crash.
NNCORE_SANITIZE=address (or any -fsanitize= value)
    adds -fsanitize=<value> -fno-omit-frame-pointer to compile and link (GCC/Clang).

Flags are chosen by compiler type (GCC/Clang and MSVC spell them differently), in
a build_ext subclass that cythonizes at build time, so that an sdist needs no
generated C.  Never -march=native: a wheel must run on every CPU of its tag.
"""

import glob
import os

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("NNCORE_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("NNCORE_SANITIZE", "")

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
    "unix": (["-O3"], ["-O0", "-g"]),  # GCC and Clang, on Linux and macOS
    "mingw32": (["-O3"], ["-O0", "-g"]),
    "cygwin": (["-O3"], ["-O0", "-g"]),
    "msvc": (["/O2"], ["/Od", "/Zi"]),
}


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

        # Build facts, readable at run time as nncore._kernels.BUILD_INFO (the .pyx
        # turns this compile-time constant into a dict; see _show_versions.py).
        info = (
            ("cython", cython_version),
            ("debug", DEBUG),
            ("sanitize", SANITIZE),
            ("compiler", ctype),
            ("cflags", " ".join(compile_args)),
        )
        # The generated C depends on the directives and on `info`, which cythonize's
        # timestamp check cannot see: one build folder per configuration, so that a
        # debug build never reuses release C (or the reverse).  Under build/, so the
        # generated C is never in git, the sdist or the wheel.
        config = f"cython-{cython_version}-{ctype}-{'debug' if DEBUG else 'release'}"
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
