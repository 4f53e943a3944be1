"""Stacked layers: the float weights file of L layers and the float model of a stack.

A stack is a list of :class:`~ese_hw.model.lstmp.LSTMPWeights`, layer 0 first; layer
``k + 1`` reads layer ``k``'s output ``y`` as its input ``x`` (PyTorch's
``nn.LSTM(num_layers=L)``), so its ``n_in`` is layer ``k``'s ``n_proj``. Each layer
has a projection (LSTMP) or not (plain LSTM, ``y = m``).

The weights ``.npz`` comes in two layouts:

version 1 (no version key)
    One LSTMP layer under the bare names of :data:`~ese_hw.model.lstmp.WEIGHT_KEYS`
    (docs/design.md section 1). Still written for exactly that case, so files and tools
    made before stacks existed keep working.
version 2
    ``weights_format_version`` = 2, ``n_layers`` = L, ``projection`` (L,) of 0/1, and
    every layer's arrays under ``l{k}_{name}`` (``l0_W_ix``, ...; no ``l{k}_W_ym`` for a
    plain layer). Written for anything else: several layers, or a plain layer.
"""

import numpy as np

from ..errors import EseError
from .lstmp import LSTMPWeights, check_inputs, lstmp_float
from .npzio import atomic_savez, read_npz

__all__ = ["WEIGHTS_FORMAT_VERSION", "check_stack", "weight_stack_from_arrays",
           "load_weight_stack", "save_weight_stack", "load_weights", "save_weights",
           "stack_float", "describe_stack"]

#: The version of the multi-layer weights layout (version 1 is the bare single layer).
WEIGHTS_FORMAT_VERSION = 2

_HEADER_KEYS = ("weights_format_version", "n_layers", "projection")


def check_stack(layers, *, source="weights"):
    """Raise :class:`EseError` unless ``layers`` is a non-empty list of
    :class:`LSTMPWeights` whose sizes chain (layer k+1's input = layer k's output)."""
    layers = list(layers)
    if not layers:
        raise EseError(f"{source}: no layers")
    for k, w in enumerate(layers):
        if not isinstance(w, LSTMPWeights):
            raise EseError(f"{source}: layer {k} is {type(w).__name__}, not LSTMPWeights")
    for k in range(1, len(layers)):
        if layers[k].n_in != layers[k - 1].n_proj:
            raise EseError(f"{source}: layer {k} has {layers[k].n_in} inputs but layer "
                           f"{k - 1} gives {layers[k - 1].n_proj} outputs")
    return layers


def describe_stack(layers):
    """A short description: ``"2-layer LSTM (3 -> 8 cells -> 8)"`` style, for messages."""
    kinds = {w.has_projection for w in layers}
    kind = "LSTMP" if kinds == {True} else "LSTM" if kinds == {False} else "LSTM/LSTMP"
    sizes = " -> ".join([str(layers[0].n_in)] + [
        f"{w.n_cells}{'/' + str(w.n_proj) if w.has_projection else ''}" for w in layers])
    return f"{len(layers)}-layer {kind} ({sizes})"


def save_weight_stack(path, layers):
    """Write a stack's weights ``.npz`` atomically, float32 on disk (layouts: module doc)."""
    layers = check_stack(layers)
    if len(layers) == 1 and layers[0].has_projection:
        w = layers[0]
        atomic_savez(path, {k: w[k].astype(np.float32) for k in w.keys})
        return
    arrays = {"weights_format_version": np.array(WEIGHTS_FORMAT_VERSION),
              "n_layers": np.array(len(layers)),
              "projection": np.array([w.has_projection for w in layers], dtype=np.int8)}
    for k, w in enumerate(layers):
        arrays.update({f"l{k}_{name}": w[name].astype(np.float32) for name in w.keys})
    atomic_savez(path, arrays)


def _int_scalar(arrays, key, source):
    v = np.asarray(arrays[key])
    if v.shape != () or not np.issubdtype(v.dtype, np.integer):
        raise EseError(f"{source}: malformed {key} (expected an integer scalar)")
    return int(v)


def weight_stack_from_arrays(arrays, *, source="weights"):
    """Validate the arrays of a weights ``.npz`` (either layout); return the layers."""
    if "weights_format_version" not in arrays:
        return [LSTMPWeights.from_arrays(arrays, source=source)]
    version = _int_scalar(arrays, "weights_format_version", source)
    if version != WEIGHTS_FORMAT_VERSION:
        raise EseError(f"{source}: weights format version {version}, this ese_hw reads "
                       f"1 and {WEIGHTS_FORMAT_VERSION}")
    for key in _HEADER_KEYS[1:]:
        if key not in arrays:
            raise EseError(f"{source}: missing key {key!r}")
    n_layers = _int_scalar(arrays, "n_layers", source)
    if n_layers < 1:
        raise EseError(f"{source}: n_layers is {n_layers}, expected at least 1")
    proj = np.asarray(arrays["projection"])
    if proj.shape != (n_layers,) or not np.isin(proj, (0, 1)).all():
        raise EseError(f"{source}: projection must be {n_layers} flags of 0 or 1")
    layers, used = [], set(_HEADER_KEYS)
    for k in range(n_layers):
        mine = {name[len(f"l{k}_"):]: a for name, a in arrays.items()
                if name.startswith(f"l{k}_")}
        used.update(f"l{k}_{name}" for name in mine)
        layers.append(LSTMPWeights.from_arrays(mine, source=f"{source} layer {k}",
                                               projection=bool(proj[k])))
    extra = sorted(set(arrays) - used)
    if extra:
        raise EseError(f"{source}: unexpected key {extra[0]!r}")
    return check_stack(layers, source=source)


def load_weight_stack(path):
    """Load and validate a weights ``.npz`` of either layout; return its layers."""
    return weight_stack_from_arrays(read_npz(path), source=str(path))


def load_weights(path):
    """Load and validate a float weights ``.npz`` holding one layer (docs/design.md section 1).

    Any layout :func:`load_weight_stack` reads; a file of several
    layers is an :class:`EseError` here (load it as a stack).
    """
    layers = load_weight_stack(path)
    if len(layers) != 1:
        raise EseError(f"{path}: holds {len(layers)} layers, expected one")
    return layers[0]


def save_weights(path, layer):
    """Write one layer's weights ``.npz`` atomically: an LSTMP layer in the version-1
    layout (the bare keys), a plain layer as a one-layer stack."""
    save_weight_stack(path, [layer])


def stack_float(layers, x, *, return_state=False):
    """Run the float stack over ``x`` (T, I) from zero state; return the last layer's
    y (T, P_last). With ``return_state``, also every layer's (y, c) (for calibration)."""
    layers = check_stack(layers)
    x = check_inputs(x, layers[0].n_in)
    states = []
    for w in layers:
        x, c = lstmp_float(w, x, return_state=True)
        states.append((x, c))
    return (x, states) if return_state else x
