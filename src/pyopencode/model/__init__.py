"""Typed models mirroring the OpenCode API schemas."""
