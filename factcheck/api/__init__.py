"""The HTTP API: routes (app), wire types (schemas), middleware and error mapping, worker pool, serve command."""

from .app import app_factory, create_app

__all__ = ["app_factory", "create_app"]
