"""The HTTP kit domain routers use: dependencies, problem rendering, lean routes, language."""
