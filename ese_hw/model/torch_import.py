"""PyTorch ``nn.LSTM`` weights to ese_hw layers (``ese-hw import``).

torch is the optional extra ``ese_hw[torch]``; it is imported only when a file is read.

The mapping, per layer ``k`` of an ``nn.LSTM(input_size=I, hidden_size=H,
num_layers=L, bias=..., proj_size=P)``:

=========================  ==========  ===============================================
PyTorch key                shape       ese_hw
=========================  ==========  ===============================================
``weight_ih_l{k}``         (4H, I)     ``W_ix W_fx W_cx W_ox`` (row blocks i, f, g, o)
``weight_hh_l{k}``         (4H, R)     ``W_ir W_fr W_cr W_or``; R = P, or H if P = 0
``bias_ih_l{k}`` +         (4H,)       ``b_i b_f b_c b_o`` (the two biases summed;
``bias_hh_l{k}``                       zero when ``bias=False``: both keys absent)
``weight_hr_l{k}``         (P, H)      ``W_ym`` (only when P > 0; else a plain layer,
                                       ``y = m``, with no ``W_ym``)
=========================  ==========  ===============================================

PyTorch's LSTM has no peepholes: ``W_ic W_fc W_oc`` are zero. Layer ``k + 1``'s
input is layer ``k``'s output ``y`` (PyTorch's ``h``). ``batch_first`` only changes
the order of the axes of the tensors PyTorch's forward takes, not the ``state_dict``,
so both import alike (ese_hw's inputs are always (T, I), one sequence). Bidirectional
LSTMs (``*_reverse`` keys) are not supported.
"""

import re
from collections.abc import Mapping

import numpy as np

from ..errors import EseError
from .lstmp import GATES, LSTMPWeights
from .npzio import open_input
from .stack import check_stack

__all__ = ["lstm_prefixes", "lstm_weights_from_state_dict", "import_lstm"]

_LSTM_KEY = re.compile(r"^(.*?)(weight_ih|weight_hh|weight_hr|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def lstm_prefixes(state_dict):
    """The prefixes under which ``state_dict`` holds an ``nn.LSTM`` (``""`` for the LSTM
    itself, ``"encoder.rnn."`` for a submodule), sorted."""
    found = set()
    for key in state_dict:
        m = _LSTM_KEY.match(key) if isinstance(key, str) else None
        if m and m.group(2) == "weight_ih":
            found.add(m.group(1))
    return sorted(found)


def _choose_prefix(state_dict, prefix, source):
    if not prefix:
        found = lstm_prefixes(state_dict)
        if not found:
            raise EseError(f"{source}: no nn.LSTM weights (no 'weight_ih_l0' key)"
                           + _nested_hint(state_dict))
        if len(found) > 1:
            raise EseError(f"{source}: several LSTMs, choose one with --prefix: "
                           + ", ".join(repr(p) for p in found))
        return found[0]
    if not prefix.endswith("."):
        prefix += "."            # module paths are joined with dots
    return prefix


def _nested_hint(obj):
    """A hint when the LSTM sits inside a training checkpoint ({"model": state_dict, ...})."""
    nested = [k for k, v in obj.items() if isinstance(v, Mapping) and lstm_prefixes(v)]
    if not nested:
        return ""
    return (f"; a checkpoint? key {nested[0]!r} holds one: save "
            f"checkpoint[{nested[0]!r}] alone with torch.save")


def _array(state_dict, key, source):
    t = state_dict[key]
    try:
        a = t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(t)
    except (TypeError, RuntimeError) as e:
        raise EseError(f"{source}: {key} is not a real tensor ({e})") from None
    if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
        raise EseError(f"{source}: {key} is not a finite float tensor")
    return a.astype(np.float64)


def _layer(state_dict, prefix, k, source):
    """One layer's :class:`LSTMPWeights` from the keys ``{prefix}*_l{k}``."""
    def get(name):
        key = f"{prefix}{name}_l{k}"
        return _array(state_dict, key, source) if key in state_dict else None

    w_ih, w_hh, w_hr = get("weight_ih"), get("weight_hh"), get("weight_hr")
    b_ih, b_hh = get("bias_ih"), get("bias_hh")
    where = f"{source}: layer {k} ({prefix}*_l{k})"
    if w_ih is None or w_hh is None:
        raise EseError(f"{where}: needs weight_ih_l{k} and weight_hh_l{k}")
    if w_ih.ndim != 2 or w_ih.shape[0] % 4 or w_ih.shape[0] == 0:
        raise EseError(f"{where}: weight_ih has shape {w_ih.shape}, expected (4H, I)")
    h = w_ih.shape[0] // 4
    n_rec = h if w_hr is None else w_hr.shape[0]
    if w_hh.shape != (4 * h, n_rec):         # e.g. a GRU's (3H, H) or an RNN's (H, H)
        raise EseError(f"{where}: weight_hh has shape {w_hh.shape}, expected {(4 * h, n_rec)}"
                       f" (not an nn.LSTM? GRU and RNN weights are not supported)")
    if w_hr is not None and w_hr.shape != (n_rec, h):
        raise EseError(f"{where}: weight_hr has shape {w_hr.shape}, expected (P, {h})")
    if (b_ih is None) != (b_hh is None):
        raise EseError(f"{where}: has only one of bias_ih and bias_hh")
    bias = np.zeros(4 * h) if b_ih is None else b_ih + b_hh if (
        b_ih.shape == b_hh.shape == (4 * h,)) else None
    if bias is None:
        raise EseError(f"{where}: biases have shapes {b_ih.shape} and {b_hh.shape}, "
                       f"expected ({4 * h},)")
    arrays = {}
    for n, g in enumerate(GATES):          # PyTorch's i, f, g, o = our i, f, c, o
        rows = slice(n * h, (n + 1) * h)
        arrays[f"W_{g}x"], arrays[f"W_{g}r"] = w_ih[rows], w_hh[rows]
        arrays[f"b_{g}"] = bias[rows]
    for g in ("i", "f", "o"):
        arrays[f"W_{g}c"] = np.zeros(h)
    if w_hr is not None:
        arrays["W_ym"] = w_hr
    return LSTMPWeights.from_arrays(arrays, source=where, projection=w_hr is not None)


def lstm_weights_from_state_dict(state_dict, *, prefix="", source="state_dict"):
    """The layers of the ``nn.LSTM`` in ``state_dict``, layer 0 first.

    Parameters
    ----------
    state_dict : mapping of str to tensors (or arrays)
        ``nn.LSTM(...).state_dict()``, or a module's that contains one.
    prefix : str
        Where the LSTM's keys start (``"rnn."``; the trailing dot may be left out).
        ``""`` (the default) finds it: the state_dict must hold exactly one LSTM
        (the ``nn.LSTM``'s own state_dict, or a module's with one LSTM in it).
    source : str
        Names the state_dict in error messages (the file path).

    Returns
    -------
    list of LSTMPWeights
        One per layer; plain layers (``proj_size=0``) have no ``W_ym``.

    Raises
    ------
    EseError
        Not a state_dict, no or several LSTMs, a bidirectional LSTM, or keys of the
        wrong shape, names or values.
    """
    if not isinstance(state_dict, Mapping) or not all(isinstance(k, str) for k in state_dict):
        raise EseError(f"{source}: not a state_dict (a mapping of names to tensors)")
    prefix = _choose_prefix(state_dict, prefix, source)
    mine = {}
    for key in state_dict:
        m = _LSTM_KEY.match(key)
        if key.startswith(prefix) and m and m.group(1) == prefix:
            if m.group(4):
                raise EseError(f"{source}: bidirectional LSTM ({key}) is not supported")
            mine.setdefault(int(m.group(3)), []).append(key)
    if not mine:
        raise EseError(f"{source}: no nn.LSTM weights under prefix {prefix!r}")
    n_layers = max(mine) + 1
    if sorted(mine) != list(range(n_layers)):
        raise EseError(f"{source}: layers {sorted(mine)} are not numbered 0..{n_layers - 1}")
    layers = [_layer(state_dict, prefix, k, source) for k in range(n_layers)]
    if len({w.has_projection for w in layers}) > 1:
        raise EseError(f"{source}: some layers have weight_hr (proj_size) and some not")
    return check_stack(layers, source=source)


def _torch():
    try:
        import torch
    except ImportError:
        raise EseError("PyTorch is not installed (pip install 'ese_hw[torch]')") from None
    return torch


def import_lstm(path, *, prefix=""):
    """Read a ``state_dict`` saved with ``torch.save`` (loaded with
    ``weights_only=True``: no code in the file runs) and convert it with
    :func:`lstm_weights_from_state_dict`."""
    torch = _torch()
    with open_input(path, "PyTorch file") as fh:
        try:
            state_dict = torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as e:      # torch raises many kinds on a damaged or foreign file
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise EseError(f"{path}: not a readable PyTorch state_dict "
                           f"({type(e).__name__}{': ' + first[:120] if first else ''})") from None
    return lstm_weights_from_state_dict(state_dict, prefix=prefix, source=str(path))
