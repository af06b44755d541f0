"""Errors the project raises for bad input: one line naming the problem and the fix."""


class ConfigError(ValueError):
    """A setting, argument or file is wrong; the message says what and how to fix it."""
