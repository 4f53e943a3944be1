"""The exception types the ``ese-hw`` command turns into a one-line error."""

__all__ = ["EseError", "MismatchError"]


class EseError(ValueError):
    """Bad input or impossible parameters; the message is one line naming the problem."""


class MismatchError(EseError):
    """The RTL's outputs differ from the golden model's: the input was fine, the hardware
    (or a stale build) is wrong. The command line exits 1 for it, not 2; the message is
    one line naming the first differing lane, frame and element."""
