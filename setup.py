"""Build the one compiled extension, nncore._kernels; all metadata is in pyproject.toml."""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# NNCORE_DEBUG=1 switches Cython's bounds and wraparound checks back on, for
# hunting a crash; wheels never set it.
DEBUG = os.environ.get("NNCORE_DEBUG", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extra_compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
if os.name == "nt":
    extra_compile_args = ["/Od", "/Zi"] if DEBUG else ["/O2"]
extra_link_args = []
sanitize = os.environ.get("NNCORE_SANITIZE", "")
if sanitize:
    extra_compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer"]
    extra_link_args += [f"-fsanitize={sanitize}"]

extensions = [
    Extension(
        "nncore._kernels",
        ["src/nncore/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("NNCORE_DEBUG_BUILD", "1" if DEBUG else "0"),
        ],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
