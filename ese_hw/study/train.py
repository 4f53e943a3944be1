"""Retraining after pruning, the ESE way (issue 10 item 3): torch, CPU, minutes.

A classifier is one LSTMP layer (``nn.LSTM(proj_size=P)``, what the channel runs) plus a
linear head on the last frame's ``y``; the head stays float on the host. Pruning uses the
project's own masks (:func:`ese_hw.model.prune.prune_weights`: balance ``pe``,
``column`` or ``none`` at a density for a PE count), so the hardware gets exactly the
pattern that was trained; fine-tuning holds the masks by zeroing the masked weights after
every optimizer step (their gradients are zeroed too, so Adam's moments stay clean).
Pruning can go in steps of decreasing density, each step pruning the previous step's
fine-tuned weights.

Why ``ese-hw compress`` keeps the trained pattern: every matrix of the exported weights
has exactly as many non-zeros as :func:`prune_weights` keeps at that density, balance and
PE count (per PE, per PE and column, or per matrix), and all of them are non-zero, so
magnitude pruning at the same settings keeps exactly these weights. :func:`export_weights`
checks this on the file it wrote (float32, as compress reads it) and refuses otherwise.

The conversion from the ``nn.LSTM`` to :class:`LSTMPWeights` is
:func:`ese_hw.model.torch_import.lstm_weights_from_state_dict` (gate order i, f, g, o).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import EseError
from ..model.lstmp import GATES, LSTMPWeights
from ..model.prune import check_prune_args, prune_weights
from ..model.stack import load_weights, save_weights
from ..model.torch_import import lstm_weights_from_state_dict

__all__ = ["PruneSpec", "LstmpClassifier", "lstmp_weights", "prune_masks", "apply_masks",
           "train_epochs", "fine_tune", "accuracy", "predict", "export_weights",
           "head_arrays"]


def _torch():
    try:
        import torch
    except ImportError:
        raise EseError("ese_hw.study.train needs torch: pip install 'ese_hw[torch]'") from None
    return torch


@dataclass(frozen=True)
class PruneSpec:
    """The pruning the hardware will be compressed with: same fields as ``ese-hw compress``."""

    n_pe: int
    density: float
    balance: str = "pe"

    def __post_init__(self):
        check_prune_args(n_pe=self.n_pe, density=self.density, balance=self.balance)


def _classifier_class():
    nn = _torch().nn

    class _LstmpClassifier(nn.Module):
        """One LSTMP layer and a float linear head on the last valid frame's ``y``."""

        def __init__(self, n_in, n_cells, n_proj, n_classes):
            super().__init__()
            self.lstm = nn.LSTM(n_in, n_cells, proj_size=n_proj, batch_first=True)
            self.head = nn.Linear(n_proj, n_classes)

        def forward(self, x, lengths):
            # Padded, not packed: the padding follows each utterance, so it cannot change
            # an earlier frame, and PyTorch's packed LSTMP path measured 2x slower here.
            with warnings.catch_warnings():   # PyTorch notes it has no oneDNN LSTMP kernel
                warnings.filterwarnings("ignore", message="LSTM with projections",
                                        category=UserWarning)
                y, _ = self.lstm(x)
            last = y[_torch().arange(len(lengths)), lengths - 1]
            return self.head(last)

    return _LstmpClassifier


def LstmpClassifier(n_in, n_cells, n_proj, n_classes, *, seed=0):  # noqa: N802 (a factory)
    """A seeded ``nn.Module``: ``model(x_padded (B, T, I), lengths (B,)) -> logits (B, C)``."""
    for name, v in (("inputs", n_in), ("cells", n_cells), ("proj", n_proj),
                    ("classes", n_classes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise EseError(f"{name} must be a positive integer, got {v!r}")
    if n_proj >= n_cells:
        raise EseError(f"proj ({n_proj}) must be smaller than cells ({n_cells}) for nn.LSTM")
    _torch().manual_seed(seed)
    return _classifier_class()(n_in, n_cells, n_proj, n_classes)


def lstmp_weights(model) -> LSTMPWeights:
    """The classifier's LSTMP layer as :class:`LSTMPWeights` (peepholes zero)."""
    layers = lstm_weights_from_state_dict(model.state_dict(), prefix="lstm.")
    if len(layers) != 1:
        raise EseError(f"the classifier has {len(layers)} LSTM layers, the channel runs one")
    return layers[0]


def head_arrays(model):
    """The float head as numpy ``(weight (C, P), bias (C,))``."""
    return (model.head.weight.detach().double().numpy().copy(),
            model.head.bias.detach().double().numpy().copy())


def prune_masks(model, spec: PruneSpec):
    """Keep-masks of the project's pruning for the classifier's LSTM parameters.

    Returns ``{name: bool tensor}`` for ``weight_ih_l0`` (4H, I), ``weight_hh_l0`` (4H, P)
    and ``weight_hr_l0`` (P, H): the masks of ``W_{i,f,c,o}x``, ``W_{i,f,c,o}r`` and
    ``W_ym`` stacked in PyTorch's gate order (i, f, g, o = our i, f, c, o).
    """
    torch = _torch()
    _, masks = prune_weights(lstmp_weights(model), n_pe=spec.n_pe, density=spec.density,
                             balance=spec.balance)
    return {
        "weight_ih_l0": torch.from_numpy(np.concatenate([masks[f"W_{g}x"] for g in GATES])),
        "weight_hh_l0": torch.from_numpy(np.concatenate([masks[f"W_{g}r"] for g in GATES])),
        "weight_hr_l0": torch.from_numpy(masks["W_ym"].copy()),
    }


def apply_masks(model, masks):
    """Zero the masked weights (and their gradients, if any) in place."""
    torch = _torch()
    with torch.no_grad():
        for name, mask in masks.items():
            p = getattr(model.lstm, name)
            p.mul_(mask.to(p.dtype))
            if p.grad is not None:
                p.grad.mul_(mask.to(p.dtype))


def _pad(features, idx):
    """``(x (B, T, I) zero-padded after each utterance, lengths (B,))`` of ``idx``."""
    torch = _torch()
    from torch.nn.utils.rnn import pad_sequence

    x = pad_sequence([torch.from_numpy(np.asarray(features[i])) for i in idx],
                     batch_first=True)
    return x, torch.tensor([len(features[i]) for i in idx])


def _batches(features, labels, batch_size, rng):
    """Shuffled padded batches of utterances of similar length (less padding each)."""
    torch = _torch()
    lengths = np.array([len(f) for f in features], dtype=np.float64)
    lengths += rng.uniform(0, 8, len(lengths))       # jitter: batches differ by epoch
    order = np.argsort(lengths, kind="stable")
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    for idx in chunks:
        x, lengths = _pad(features, idx)
        yield x, lengths, torch.from_numpy(np.asarray(labels)[idx])


def _check_data(features, labels):
    if len(features) == 0 or len(features) != len(labels):
        raise EseError(f"training data: {len(features)} utterances and {len(labels)} labels")


def train_epochs(model, features, labels, *, epochs, lr=3e-3, batch_size=64, masks=None,
                 seed=0, progress=False):
    """Train ``epochs`` epochs with Adam (cross-entropy); with ``masks`` held.

    Returns a list of per-epoch ``{"loss", "seconds"}``.
    """
    torch = _torch()
    _check_data(features, labels)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise EseError(f"epochs must be a non-negative integer, got {epochs!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    history = []
    model.train()
    for epoch in range(epochs):
        start, total, n = time.monotonic(), 0.0, 0
        for x, lengths, y in _batches(features, labels, batch_size, rng):
            opt.zero_grad()
            loss = loss_fn(model(x, lengths), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if masks is not None:
                apply_masks(model, masks)        # masked gradients: moments stay zero
            opt.step()
            if masks is not None:
                apply_masks(model, masks)        # weight decay-free Adam keeps them zero
            total += float(loss.detach()) * len(y)
            n += len(y)
        history.append({"epoch": epoch, "loss": total / n,
                        "seconds": round(time.monotonic() - start, 2)})
        if progress:
            print(f"  epoch {epoch}: loss {total / n:.4f} ({history[-1]['seconds']} s)",
                  flush=True)
    model.eval()
    return history


def fine_tune(model, features, labels, *, n_pe, densities, balance="pe", epochs=1, lr=1e-3,
              batch_size=64, seed=0, progress=False):
    """Prune and fine-tune in steps of decreasing density (one step: ``densities=(d,)``).

    Each step prunes the current weights with the project's masks at its density (so a
    step's mask is a subset of the previous one's) and trains ``epochs`` epochs with the
    mask held. Returns ``(masks of the last step, PruneSpec of the last step, history)``.
    """
    densities = tuple(densities)
    if not densities or any(b > a for a, b in zip(densities, densities[1:], strict=False)):
        raise EseError(f"densities must be a non-empty decreasing sequence, got {densities}")
    history, masks, spec = [], None, None
    for step, density in enumerate(densities):
        spec = PruneSpec(n_pe=n_pe, density=float(density), balance=balance)
        masks = prune_masks(model, spec)
        apply_masks(model, masks)
        hist = train_epochs(model, features, labels, epochs=epochs, lr=lr, masks=masks,
                            batch_size=batch_size, seed=seed + step, progress=progress)
        history.append({"density": float(density), "epochs": hist})
    return masks, spec, history


def predict(model, features, *, batch_size=256):
    """Predicted class of every utterance (numpy int64)."""
    torch = _torch()
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(features), batch_size):
            x, lengths = _pad(features, range(i, min(i + batch_size, len(features))))
            out.append(model(x, lengths).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def accuracy(model, features, labels):
    """Fraction of utterances classified correctly."""
    _check_data(features, labels)
    return float(np.mean(predict(model, features) == np.asarray(labels)))


def export_weights(model, path, spec: PruneSpec | None = None):
    """Write the classifier's LSTMP layer as the weights ``.npz`` ``ese-hw compress`` takes.

    With ``spec``, re-prune the written file at the same settings (as compress will) and
    raise :class:`EseError` unless that keeps every non-zero weight: the compressed model
    then runs exactly the trained pattern. Returns the weights as written (float32 values).
    """
    weights = lstmp_weights(model)
    save_weights(path, weights)
    written = load_weights(path)
    if spec is not None:
        _, masks = prune_weights(written, n_pe=spec.n_pe, density=spec.density,
                                 balance=spec.balance)
        for key, mask in masks.items():
            lost = int(np.count_nonzero(written[key][~mask]))
            if lost:
                raise EseError(f"{path}: pruning at density {spec.density}, balance "
                               f"{spec.balance}, {spec.n_pe} PEs would drop {lost} trained "
                               f"weights of {key}; fine-tune with that spec first")
    return written
