"""End-to-end and store tests against a real PostgreSQL server."""
