"""The one exception type the ``ese-hw`` command turns into a one-line error."""

__all__ = ["EseError"]


class EseError(ValueError):
    """Bad input or impossible parameters; the message is one line naming the problem."""
