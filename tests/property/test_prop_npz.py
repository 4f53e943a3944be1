"""Every command that reads an ``.npz`` (compress, run, generate, estimate, sweep), given
a valid file with random bytes flipped or the file truncated anywhere, gives one stderr
line and exit 2, or, if the file still parses and is valid, works; never a traceback,
never a partial output (tests/property/workspace.py holds the check).

Two kinds of damage: bytes of the file itself (the zip container, its CRCs catch most
flips in the compressed data), and bytes of one member re-zipped with a correct CRC, so
the damage reaches the arrays and the loaders' own checks."""

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ese_hw.errors import EseError
from ese_hw.model.compress import load_compressed
from ese_hw.model.stack import load_weights
from tests.property.workspace import MODEL_PES, check_command


def flips(size):
    """(position, xor mask) pairs within ``size`` bytes."""
    return st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)), min_size=1,
                    max_size=4)


def _flip(data, changes, cut):
    data = bytearray(data)
    for pos, mask in changes:
        data[pos] ^= mask
    return bytes(data[:cut])


@st.composite
def damaged_file(draw, data):
    """``data`` with 1-4 bytes flipped, or cut short, or both."""
    changes = draw(st.one_of(st.just([]), flips(len(data))))
    cut = draw(st.one_of(st.just(len(data)), st.integers(0, len(data) - 1)))
    if not changes and cut == len(data):
        changes = draw(flips(len(data)))
    return _flip(data, changes, cut)


@st.composite
def damaged_member(draw, data):
    """The archive ``data`` with one member's bytes (its .npy header or array data)
    flipped or cut short, written back as a consistent zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist()]
    k = draw(st.integers(0, len(members) - 1))
    name, body = members[k]
    members[k] = (name, draw(damaged_file(body)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members:
            z.writestr(n, b)
    return out.getvalue()


def damage(data):
    return st.one_of(damaged_file(data), damaged_member(data))


#: Commands reading ``{npz}``; a weights file is compressed for 2 PEs (the default 32
#: exceed the tiny model's cells), which a compressed model of 2 PEs agrees with.
PES = ["--pes", str(MODEL_PES)]
READERS = {
    "compress": ["compress", "{npz}", "-o", "{out}/m.npz", *PES, "--density", "0.5"],
    "run": ["run", "{npz}", "--inputs", "{x}", "-o", "{out}/y.npy", "--report",
            "{out}/r.json"],
    "generate": ["generate", "{npz}", *PES, "-o", "{out}/g"],
    "estimate": ["estimate", "{npz}", *PES, "--report", "{out}/r.json"],
    "sweep": ["sweep", "{npz}", *PES, "--channels", "1", "--index-bits", "4", "-o",
              "{out}/s"],
}


@pytest.mark.parametrize("source", ["weights", "model"])
@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.synth if c == "estimate"
                                                  else ()) for c in READERS])
def test_damaged_npz_fails_in_one_line_or_works(ws, command, source):
    original = getattr(ws, source).read_bytes()
    outcomes = []

    @given(damage(original))
    def fuzz(data):
        path = ws.root / f"damaged{ws.n}.npz"
        path.write_bytes(data)
        args = [a.replace("{npz}", str(path)) for a in READERS[command]]
        outcomes.append(check_command(ws, args))

    fuzz()
    assert "error" in outcomes


@given(st.data())
def test_loaders_raise_ese_error_naming_the_file(ws, data):
    """The loaders themselves (not the command line) turn any damage into an
    :class:`EseError` that names the file."""
    for path, load in ((ws.weights, load_weights), (ws.model, load_compressed)):
        damaged = ws.root / f"loader{ws.n}.npz"
        ws.n += 1
        damaged.write_bytes(data.draw(damage(path.read_bytes()), label=path.name))
        try:
            load(damaged)
        except EseError as e:
            assert str(damaged) in str(e)
            assert "\n" not in str(e)


#: Commands on float weights of any scale.
ON_WEIGHTS = {
    "compress": ["compress", "{npz}", "-o", "{out}/m.npz", *PES],
    "run": ["run", "{npz}", "--inputs", "{x}", "-o", "{out}/y.npy"],
}


@pytest.mark.parametrize("command", list(ON_WEIGHTS))
def test_weights_of_any_scale_work_or_fail_in_one_line(ws, command):
    """Finite weights scaled anywhere in the float range (where the float LSTMP's sums
    overflow, or no fixed point holds them) work or give one line: no numpy warning, no
    OverflowError."""
    with np.load(ws.weights) as f:
        arrays = {k: f[k].astype(np.float64) for k in f.files}
    top = max(np.abs(a).max() for a in arrays.values())
    arrays = {k: a / top for k, a in arrays.items()}          # max |w| is the scale
    outcomes = []

    @given(st.one_of(st.floats(-1e308, 1e308, allow_subnormal=True),
                     st.sampled_from([1.7e308, -1e300, 1e-300, 5e-324, 1e30, 1e-30])))
    def fuzz(scale):
        path = ws.root / f"scaled{ws.n}.npz"
        np.savez(path, **{k: v * scale for k, v in arrays.items()})
        args = [a.replace("{npz}", str(path)) for a in ON_WEIGHTS[command]]
        outcomes.append(check_command(ws, args))

    fuzz()
    assert {"ok", "error"} <= set(outcomes)


def _rezip_with(data, edit):
    """The archive ``data`` with every member's bytes passed through ``edit``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(src.read(info)))
    return out.getvalue()


def test_header_key_turned_to_bytes(ws):
    """Found by the long profile: one flipped byte makes a .npy header key a bytes
    literal, and numpy's header parser raises TypeError sorting the keys."""
    path = ws.root / "bytes_key.npz"
    path.write_bytes(_rezip_with(ws.weights.read_bytes(), lambda b: b.replace(
        b" 'fortran_order'", b"b'fortran_order'", 1)))
    with pytest.raises(EseError, match=r"not a readable \.npz \(TypeError"):
        load_weights(path)
    assert check_command(ws, ["compress", str(path), "-o", "{out}/m.npz", *PES]) == "error"
