# Builds hpytrace_loop.c with HPy's setuptools integration (hpy_ext_modules, from the hpy 0.9.0
# package). run.sh runs it from a scratch copy with --hpy-abi=universal, since on CPython HPy
# defaults to its cpython ABI, which has no trace mode.
from setuptools import Extension, setup

setup(
    name="hpytrace-loop",
    version="0",
    hpy_ext_modules=[Extension("hpytrace_loop", sources=["hpytrace_loop.c"])],
)
