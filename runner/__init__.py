"""request-runner: a declarative, YAML-driven HTTP request runner."""

__version__ = "0.1.0"
