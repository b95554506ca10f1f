"""The SDK's version: the one source. pyproject.toml reads it (setuptools
dynamic version, [tool.setuptools.dynamic]), plugboard.__version__
re-exports it and the clients send it in their User-Agent."""

__version__ = "0.3.0"
