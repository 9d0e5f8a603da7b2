"""The HTTP edge: app factory, middleware, error rendering, auth dependencies and the CLI."""
