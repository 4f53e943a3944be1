"""User files: every unreadable, corrupted or truncated file read is one :class:`EseError`,
and every file written appears whole or not at all."""

import lzma
import os
import struct
import tempfile
import tokenize
import zipfile
import zlib

import numpy as np

from ..errors import EseError

__all__ = ["atomic_savez", "atomic_write", "open_input", "read_npz", "read_npy"]

#: What the zip and .npy readers raise on a damaged file: besides the obvious ones, a
#: flipped header byte makes numpy's header parser raise SyntaxError (or, retrying an
#: old header format, tokenize's TokenError; or TypeError, sorting a key turned into
#: bytes among strings), a flipped flag bit makes zipfile ask for a
#: password (RuntimeError) or name an unknown compression method (NotImplementedError),
#: a flipped method byte can select LZMA (LZMAError), and a flipped shape can ask for
#: more memory than there is.
_BAD_FILE = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error, EOFError, OSError,
             ValueError, KeyError, TypeError, SyntaxError, tokenize.TokenError,
             RuntimeError, NotImplementedError, OverflowError, MemoryError)


def _why(e):
    """The exception as a short phrase for a one-line message."""
    text = " ".join(str(e).split())
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def open_input(path, what):
    """Open ``path`` for reading; a missing or unreadable file is an :class:`EseError`."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise EseError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EseError(f"{path}: is a directory") from None
    except PermissionError:
        raise EseError(f"{path}: permission denied") from None
    except OSError as e:
        raise EseError(f"{path}: cannot read {what} ({e.strerror})") from None


def read_npz(path):
    """All arrays of an ``.npz`` (no pickles).

    The file is opened here, not by ``np.load``: given a path, ``np.load`` leaks the
    open file when the archive is corrupt.
    """
    with open_input(path, ".npz") as fh:
        try:
            f = np.load(fh, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise EseError(f"{path}: not a .npz archive (a single .npy array?)")
            # Members are decompressed lazily: a damaged member fails here (zlib.error).
            with f:
                return {k: f[k] for k in f.files}
        except EseError:
            raise
        except _BAD_FILE as e:
            raise EseError(f"{path}: not a readable .npz ({_why(e)})") from None


def read_npy(path):
    """One array from a ``.npy`` file (no pickles)."""
    with open_input(path, ".npy") as fh:
        try:
            x = np.load(fh, allow_pickle=False)
        except _BAD_FILE as e:
            raise EseError(f"{path}: not a readable .npy ({_why(e)})") from None
        if isinstance(x, np.lib.npyio.NpzFile):
            x.close()
            raise EseError(f"{path}: a .npz archive, expected a single .npy array")
    return x


def atomic_write(path, data):
    """Write ``data`` (``str`` or ``bytes``, or a callable that writes to a binary file)
    to ``path`` through a temporary file in the same directory and ``os.replace``: a
    reader, or a run killed mid-write, sees the old file or the new one, never half of
    one, and a failure leaves no temporary file behind."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savez(path, arrays, *, compressed=True):
    """``np.savez`` to ``path`` through :func:`atomic_write`, so a failure leaves no file."""
    atomic_write(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays))
