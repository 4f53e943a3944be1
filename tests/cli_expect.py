"""One check of the ``ese-hw`` command's contract, shared by the CLI tests.

A command either works (exit 0) or fails with exactly one stderr line
``ese-hw: error: ...``, exit status 2 (1 for a result that fails its check), no
traceback, and nothing written: the directories it could write to list the same files
before and after.
"""

import contextlib
import io
import os

from ese_hw.cli import main

__all__ = ["CliResult", "assert_one_line_error", "run_cli", "snapshot"]


class CliResult:
    """Exit status and captured streams of one in-process ``main(argv)``."""

    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


def run_cli(argv):
    """``main(argv)`` in process with stdout and stderr captured (no pytest fixture, so
    Hypothesis can call it many times in one test)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return CliResult(code, out.getvalue(), err.getvalue())


def snapshot(*dirs):
    """Every path under ``dirs`` (files and directories), to compare before and after."""
    found = set()
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            found.update(os.path.join(root, n) for n in subdirs + files)
    return found


def assert_one_line_error(code, err, *, expected=2):
    """The command exited with ``code == expected`` and ``err`` is one line
    ``ese-hw: error: ...`` with no traceback; returns the line.

    Parameters
    ----------
    code : int
        The exit status the command returned (``main``'s value, ``CliResult.code``, a
        subprocess's ``returncode``). Required: the check is of what the caller saw.
    err : str
        Everything the command wrote to stderr.
    expected : int
        2 for bad input (the default), 1 for a run that worked but found a mismatch.
    """
    lines = err.splitlines()
    assert code == expected, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("ese-hw: error: "), err
    assert "Traceback" not in err
    return lines[0]
