"""pyopencode: an OpenCode-compatible server that keeps every promise its answers make."""

__version__ = "0.1.0"
