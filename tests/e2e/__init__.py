"""End-to-end tests: a real Open WebUI 0.12.4 hosting the pipe (see conftest.py)."""
