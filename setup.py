"""Builds the compiled extensions; everything else about the package is in pyproject.toml.

``bayesgmm/bayes/kernel/_kernel.c`` holds the model's log density and gradient for NUTS and ADVI;
``bayesgmm/em/_estep.c`` EM's fused normalisation of the responsibilities. Both share
``bayesgmm/_utils/_vecmath.h`` and both are optional: without a C compiler the install still
succeeds, sampling falls back to PyMC's own compiled graphs
(``bayesgmm.bayes.kernel.bindings.available()`` is False) and EM to numpy.
"""

from setuptools import Extension, setup

# -fno-math-errno: the C code never reads errno, so sqrt and friends may inline;
# -fno-trapping-math: it never enables floating-point traps, so GCC may turn the
# branches of its exp and log (clamps, NaN passes) into vector selects; values are
# unchanged (unlike -ffast-math);
# -fopenmp-simd: honour its "omp simd" pragmas (vectorised loops over points)
# without OpenMP's runtime or -ffast-math.
# No -march: the hot loops carry target_clones (AVX2 + FMA and baseline), picked at
# load time by the CPU, so one build runs everywhere (see DISPATCH in _vecmath.h).
FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"]

KERNEL = Extension(
    "bayesgmm.bayes.kernel._kernel",
    sources=["bayesgmm/bayes/kernel/_kernel.c"],
    extra_compile_args=FLAGS,
    include_dirs=["bayesgmm/_utils"],
    depends=[
        "bayesgmm/_utils/_vecmath.h",
        "bayesgmm/bayes/kernel/_kernel_tiles.h",
        "bayesgmm/bayes/kernel/_kernel_missing.h",
        "bayesgmm/bayes/kernel/_kernel_orient.h",
    ],
    optional=True,
)

ESTEP = Extension(
    "bayesgmm.em._estep",
    sources=["bayesgmm/em/_estep.c"],
    extra_compile_args=FLAGS,
    include_dirs=["bayesgmm/_utils"],
    depends=["bayesgmm/_utils/_vecmath.h"],
    optional=True,
)

setup(ext_modules=[KERNEL, ESTEP])
