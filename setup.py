"""The optional C extension of the search's two inner loops (model/_kernels.c, model/kernels.py).

Everything else about the package is in pyproject.toml; setuptools declares extensions
there only as an experimental feature (a warning on every install), so this file holds
the one Extension. It is optional: an install without a C compiler still works and
searches with numpy and scipy instead (the same answers, slower). No fused multiply-add
(-ffp-contract=off): the loops must round as numpy's and scipy's float32 loops do.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("model._kernels", ["model/_kernels.c"],
                             extra_compile_args=["-O2", "-ffp-contract=off"], optional=True)])
