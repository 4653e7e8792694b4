"""Configuration from environment variables, checked when a function's module is imported."""

import os


class MissingEnvironmentVariableError(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Required environment variable {name} is not set")
        self.name = name


def require_env(name: str) -> str:
    """Return the variable's value; fail at init, naming the variable, when it is missing or empty."""
    value = os.environ.get(name, "")
    if not value:
        raise MissingEnvironmentVariableError(name)
    return value
