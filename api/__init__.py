"""The HTTP API: Litestar app factory, controllers, guards and error mapping."""
