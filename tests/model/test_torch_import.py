"""``ese-hw import`` and ese_hw.model.torch_import against PyTorch's own nn.LSTM."""

import numpy as np
import pytest

from ese_hw.cli import main
from ese_hw.model.stack import load_weight_stack, stack_float
from ese_hw.model.torch_import import import_lstm, lstm_prefixes, lstm_weights_from_state_dict

torch = pytest.importorskip("torch")

# PyTorch's own notice that it runs LSTMP without oneDNN; not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")

#: Tiny shapes: input, cells, frames.
N_IN, N_CELLS, N_FRAMES = 3, 5, 7
#: The bound the float engine must meet against nn.LSTM (issue 10).
TORCH_TOL = 1e-5


def _lstm(*, proj=0, layers=1, bias=True, batch_first=False, seed=0):
    torch.manual_seed(seed)
    return torch.nn.LSTM(N_IN, N_CELLS, num_layers=layers, bias=bias, proj_size=proj,
                         batch_first=batch_first)


def _torch_out(lstm, x):
    """PyTorch's output for one sequence ``x`` (T, I), whatever its batch_first."""
    xt = torch.from_numpy(x).float()
    xt = xt[None] if lstm.batch_first else xt[:, None]
    with torch.no_grad():
        y, _ = lstm(xt)
    return (y[0] if lstm.batch_first else y[:, 0]).double().numpy()


class _Wrapper(torch.nn.Module):
    """A model holding its LSTM under a prefix, next to other parameters."""

    def __init__(self, lstm):
        super().__init__()
        self.embed = torch.nn.Linear(N_IN, N_IN)
        self.rnn = lstm
        self.head = torch.nn.Linear(lstm.proj_size or N_CELLS, 2)


KINDS = {
    "lstmp-1": dict(proj=2),
    "plain-1": dict(),
    "lstmp-3": dict(proj=2, layers=3),
    "plain-3": dict(layers=3),
    "no-bias": dict(proj=2, layers=2, bias=False),
    "batch-first": dict(layers=2, batch_first=True),
}


@pytest.mark.parametrize("kind", KINDS)
def test_float_equals_torch(kind, tmp_path):
    lstm = _lstm(**KINDS[kind])
    torch.save(lstm.state_dict(), tmp_path / "m.pt")
    layers = import_lstm(tmp_path / "m.pt")
    assert len(layers) == lstm.num_layers
    assert all(w.has_projection == (lstm.proj_size > 0) for w in layers)
    x = np.random.default_rng(1).standard_normal((N_FRAMES, N_IN))
    err = np.abs(stack_float(layers, x) - _torch_out(lstm, x)).max()
    assert err < TORCH_TOL, err


#: Golden against float on imported 2-layer stacks (I 3, H 5, P 2 or none; 12/16 bits,
#: 4 PEs, density 0.5; x ~ N(0, 1), 20 frames; torch seeds 0-2): measured max abs error
#: 4.8e-4 to 7.5e-4 with projection, 1.4e-3 to 1.6e-3 without (fa = 12). Bound 2.5x.
IMPORTED_GOLDEN_TOL = 4e-3


@pytest.mark.parametrize("proj", [2, 0])
def test_golden_of_imported_stack_near_float(proj):
    from ese_hw.model.compress import Config, compress_stack
    from ese_hw.model.golden import GoldenStack

    lstm = _lstm(proj=proj, layers=2)
    model = compress_stack(lstm_weights_from_state_dict(lstm.state_dict()),
                           Config(n_pe=4, density=0.5))
    x = np.random.default_rng(1).standard_normal((20, N_IN))
    err = np.abs(GoldenStack(model).run(x) - stack_float(model.float_layers, x)).max()
    assert 0 < err < IMPORTED_GOLDEN_TOL, err


def test_cli_import_with_prefix_then_run_float(tmp_path, capsys):
    lstm = _lstm(proj=2, layers=2, seed=3)
    torch.save(_Wrapper(lstm).state_dict(), tmp_path / "model.pt")
    x = np.random.default_rng(2).standard_normal((N_FRAMES, N_IN))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "w.npz"
    for prefix in ([], ["--prefix", "rnn."], ["--prefix", "rnn"]):
        assert main(["import", str(tmp_path / "model.pt"), "-o", str(out), *prefix]) == 0
        assert "2-layer LSTMP" in capsys.readouterr().out
        assert main(["run", str(out), "--inputs", str(tmp_path / "x.npy"),
                     "-o", str(tmp_path / "y.npy"), "--engine", "float"]) == 0
        y = np.load(tmp_path / "y.npy")
        assert np.abs(y - _torch_out(lstm, x)).max() < TORCH_TOL
    assert len(load_weight_stack(out)) == 2


def test_prefixes_and_wrong_prefix():
    sd = {**{f"a.{k}": v for k, v in _lstm().state_dict().items()},
          **{f"b.{k}": v for k, v in _lstm(layers=2).state_dict().items()}}
    assert lstm_prefixes(sd) == ["a.", "b."]
    assert len(lstm_weights_from_state_dict(sd, prefix="b.")) == 2
    with pytest.raises(ValueError, match="several LSTMs.*'a.', 'b.'"):
        lstm_weights_from_state_dict(sd)
    with pytest.raises(ValueError, match="no nn.LSTM weights under prefix 'c.'"):
        lstm_weights_from_state_dict(sd, prefix="c")


def _bad_files(tmp_path):
    good = _lstm(proj=2).state_dict()
    cases = {}

    def save(name, obj):
        torch.save(obj, tmp_path / name)
        return tmp_path / name

    cases["not a state_dict"] = (save("t.pt", torch.zeros(3)), "not a state_dict")
    cases["not an LSTM"] = (save("lin.pt", torch.nn.Linear(2, 2).state_dict()),
                            "no nn.LSTM weights")
    cases["GRU"] = (save("gru.pt", torch.nn.GRU(N_IN, 8).state_dict()),
                    "weight_hh has shape (24, 8), expected (24, 6) (not an nn.LSTM?")
    cases["bidirectional"] = (
        save("bi.pt", torch.nn.LSTM(N_IN, N_CELLS, bidirectional=True).state_dict()),
        "bidirectional LSTM (weight_ih_l0_reverse) is not supported")
    cases["checkpoint"] = (save("ckpt.pt", {"epoch": 3, "model": good}),
                           "a checkpoint? key 'model' holds one")
    cases["whole module"] = (save("mod.pt", _lstm()), "not a readable PyTorch state_dict")
    blob = (tmp_path / save("ok.pt", good).name).read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[:len(blob) // 2])
    cases["truncated"] = (tmp_path / "cut.pt", "not a readable PyTorch state_dict")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 20)
    cases["garbage"] = (tmp_path / "junk.pt", "not a readable PyTorch state_dict")
    cases["missing"] = (tmp_path / "nope.pt", "no such file")
    odd = dict(good)
    odd["weight_hh_l0"] = odd["weight_hh_l0"][:, :1]
    cases["wrong shape"] = (save("shape.pt", odd), "weight_hh has shape (20, 1)")
    nan = dict(good)
    nan["bias_ih_l0"] = torch.full_like(nan["bias_ih_l0"], float("nan"))
    cases["NaN"] = (save("nan.pt", nan), "bias_ih_l0 is not a finite float tensor")
    return cases


def test_bad_files_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "w.npz"
    for name, (path, message) in _bad_files(tmp_path).items():
        assert main(["import", str(path), "-o", str(out)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and str(path) in err, (name, err)
        assert not out.exists(), name
