"""The tracking server: ASGI app, group-commit recorder, spool, and the runner."""
