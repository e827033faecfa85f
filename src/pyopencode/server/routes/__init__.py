"""Route modules, one per OpenCode API group."""
