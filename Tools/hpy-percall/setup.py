# Builds the modules Tools/hpy-percall times on CPython with HPy's setuptools integration
# (hpy_ext_modules, from the hpy 0.9.0 package): HPy's microbenchmark module hpy_simple, taken
# unchanged from the hpy 0.9.0 sdist, and refscale's Experiments/hpy/listwalk.c. run.sh runs it
# from a scratch copy with --hpy-abi=universal, since on CPython HPy defaults to its cpython ABI.
from setuptools import Extension, setup

setup(
    name="hpy-percall-modules",
    version="0",
    hpy_ext_modules=[
        Extension("hpy_simple", sources=["hpy_simple.c"]),
        Extension("listwalk", sources=["listwalk.c"]),
    ],
)
