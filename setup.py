"""The compiled search core (checks/engine/_core.pyx) is optional: where it cannot be
built, `pip install` goes on and the Python loop runs (checks/engine/core.py)."""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
    extensions = cythonize([Extension("checks.engine._core", ["checks/engine/_core.pyx"],
                                      extra_compile_args=["-O2"], optional=True)],
                           language_level=3, quiet=True)
except ImportError:
    extensions = []

setup(ext_modules=extensions)
