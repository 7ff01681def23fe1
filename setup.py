"""Builds the compiled kernel; everything else about the package is in pyproject.toml.

``bayesgmm/_kernel.c`` holds the model's log density and gradient for NUTS and ADVI. The
extension is optional: without a C compiler the install still succeeds, and sampling
falls back to PyMC's own compiled graphs (``bayesgmm.kernel.available()`` is False).
"""

from setuptools import Extension, setup

KERNEL = Extension(
    "bayesgmm._kernel",
    sources=["bayesgmm/_kernel.c"],
    # -fno-math-errno: the kernel never reads errno, so sqrt and friends may inline;
    # -fopenmp-simd: honour its "omp simd reduction" pragmas (vectorised sums over points)
    # without OpenMP's runtime or -ffast-math.
    extra_compile_args=["-O3", "-fno-math-errno", "-fopenmp-simd"],
    optional=True,
)

setup(ext_modules=[KERNEL])
