"""Builds the compiled kernel; everything else about the package is in pyproject.toml.

``bayesgmm/bayes/_kernel.c`` holds the model's log density and gradient for NUTS and ADVI. The
extension is optional: without a C compiler the install still succeeds, and sampling
falls back to PyMC's own compiled graphs (``bayesgmm.bayes.kernel.available()`` is False).
"""

from setuptools import Extension, setup

KERNEL = Extension(
    "bayesgmm.bayes._kernel",
    sources=["bayesgmm/bayes/_kernel.c"],
    # -fno-math-errno: the kernel never reads errno, so sqrt and friends may inline;
    # -fno-trapping-math: it never enables floating-point traps, so GCC may turn the
    # branches of its exp and log (clamps, NaN passes) into vector selects; values are
    # unchanged (unlike -ffast-math);
    # -fopenmp-simd: honour its "omp simd" pragmas (vectorised loops over points)
    # without OpenMP's runtime or -ffast-math.
    # No -march: the hot loops carry target_clones (AVX2 + FMA and baseline), picked at
    # load time by the CPU, so one build runs everywhere (see DISPATCH in _kernel.c).
    extra_compile_args=["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"],
    optional=True,
)

setup(ext_modules=[KERNEL])
