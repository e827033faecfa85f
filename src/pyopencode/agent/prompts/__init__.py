"""The base system prompts, written for pyopencode, one per model family."""
