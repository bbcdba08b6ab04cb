"""The process: the ASGI application, its wiring, and the `sselfie` command."""
