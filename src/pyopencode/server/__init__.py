"""The HTTP surface: a thin FastAPI app whose routes mirror the OpenCode API groups."""
