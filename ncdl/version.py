"""The package version, in a module below every stage so that any of them may read it.

The ONNX backend writes it as ``producer_version``; ``ncdl.__version__`` is
this value. Keep it equal to ``version`` in ``pyproject.toml``.
"""

__version__ = "0.1.0"
