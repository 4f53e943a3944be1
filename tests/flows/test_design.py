"""The design options generate, estimate and sweep share: parsing, checks, the model
behind a design and its on-disk cache."""

import argparse

import numpy as np
import pytest

from ese_hw.cli import add_design_options, design_from_args, grid_from_args
from ese_hw.errors import EseError
from ese_hw.flows.design import DEFAULT_INDEX_BITS, design_grid, make_design
from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress, load_compressed
from ese_hw.model.images import model_entry_depth
from ese_hw.model.lstmp import random_weights
from ese_hw.model.stack import save_weights

SHAPE = (16, 64, 32)
SMALL = ["--shape", "16,64,32", "--density", "0.25", "--pes", "4"]


def _args(argv, multi=False):
    return add_design_options(argparse.ArgumentParser(), multi=multi).parse_args(argv)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.npz"
    compress(random_weights(*SHAPE, seed=3), Config(n_pe=4, density=0.25, index_bits=5)).save(path)
    return path


def test_random_design_from_shape_and_density(cache):
    d = design_from_args(_args([*SMALL, "--channels", "2", "--queue-depth", "4",
                                "--clock-mhz", "250"]), cache_dir=cache)
    assert d.shape == SHAPE and d.clock_mhz == 250.0 and d.clock_period_ns == 4.0
    assert d.model.config == Config(n_pe=4, density=0.25, index_bits=DEFAULT_INDEX_BITS)
    # Memory depths from the real encoding, the channel's parameters for that model.
    assert d.params == ChannelParams.for_model(d.model, n_channels=2, queue_depth=4)
    assert d.params.entry_depth == model_entry_depth(d.model)
    # The seeded random weights compress to the same images whoever asks.
    ref = compress(random_weights(*SHAPE, seed=0), d.model.config)
    assert all(np.array_equal(a, b) for a, b in zip(ref.gate.words, d.model.gate.words,
                                                    strict=True))


def test_random_model_is_cached(cache):
    first = make_design(shape=SHAPE, density=0.25, n_pe=4, index_bits=4, cache_dir=cache)
    assert first.model_path.parent == cache and first.model_path.exists()
    stamp = first.model_path.stat().st_mtime_ns
    again = make_design(shape=SHAPE, density=0.25, n_pe=4, index_bits=4, cache_dir=cache)
    assert again.model_path == first.model_path
    assert again.model_path.stat().st_mtime_ns == stamp          # read, not rewritten
    assert again.params == first.params
    other = make_design(shape=SHAPE, density=0.3, n_pe=4, index_bits=4, cache_dir=cache)
    assert other.model_path != first.model_path


def test_damaged_cache_entry_is_compressed_again(cache):
    d = make_design(shape=SHAPE, density=0.2, n_pe=2, cache_dir=cache)
    d.model_path.write_bytes(b"not an npz")
    again = make_design(shape=SHAPE, density=0.2, n_pe=2, cache_dir=cache)
    assert again.params == d.params
    load_compressed(again.model_path)


def test_compressed_model_fixes_its_options(model_file, cache):
    d = design_from_args(_args([str(model_file)]), cache_dir=cache)
    assert d.shape == SHAPE and d.source == str(model_file)
    assert (d.params.n_pe, d.params.index_bits) == (4, 5)
    # Options that agree with the model are accepted.
    same = design_from_args(_args([str(model_file), *SMALL, "--index-bits", "5"]),
                            cache_dir=cache)
    assert same.params == d.params


def test_float_weights_are_compressed_with_the_options(tmp_path, cache):
    path = tmp_path / "w.npz"
    save_weights(path, random_weights(*SHAPE, seed=5))
    d = design_from_args(_args([str(path), "--pes", "2", "--density", "0.3"]), cache_dir=cache)
    assert d.model.config == Config(n_pe=2, density=0.3, index_bits=DEFAULT_INDEX_BITS)
    ref = compress(random_weights(*SHAPE, seed=5), d.model.config)
    assert np.array_equal(ref.ym.ptr, d.model.ym.ptr)


@pytest.mark.parametrize("argv, message", [
    (["--pes", "0"], "--pes must be an integer >= 1, got 0"),
    (["--channels", "65"], "--channels must be an integer in 1..64, got 65"),
    (["--index-bits", "9"], "--index-bits must be an integer in 2..8, got 9"),
    (["--queue-depth", "0"], "--queue-depth must be an integer in 1..256, got 0"),
    (["--pes", "four"], "--pes must be an integer, got 'four'"),
    (["--ew-share", "0"], "--ew-share must be an integer >= 1, got 0"),
    (["--ew-share", "x"], "--ew-share must be an integer, got 'x'"),
    (["--pes", "4", "--ew-share", "3"], "--ew-share 3 must divide the PE count 4"),
    (["--clock-mhz", "0"], "--clock-mhz must be a number in 1..1000, got 0"),
    (["--clock-mhz", "inf"], "--clock-mhz must be a number in 1..1000, got inf"),
    (["--clock-mhz", "fast"], "--clock-mhz must be a number"),
    (["--density", "0"], "--density must be a number in (0, 1]"),
    (["--density", "1.5"], "--density must be a number in (0, 1]"),
    (["--shape", "16,64"], "--shape must be I,H,P"),
    (["--shape", "16,0,32"], "--shape cells must be an integer >= 1, got 0"),
    (["--broadcast", "0"], "--broadcast must be an integer in 1..16, got 0"),
    (["--broadcast", "17"], "--broadcast must be an integer in 1..16, got 17"),
    (["--broadcast", "x"], "--broadcast must be an integer, got 'x'"),
    (["--broadcast", "3"], "--broadcast 3 must divide the PE count 4"),
])
def test_bad_option_is_one_line_naming_it(argv, message, cache):
    with pytest.raises(EseError) as e:
        design_from_args(_args([*SMALL, *argv]), cache_dir=cache)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("argv, option", [
    (["--shape", "16,64,16"], "--shape 16,64,16 disagrees"),
    (["--pes", "8"], "--pes 8 disagrees"),
    (["--index-bits", "6"], "--index-bits 6 disagrees"),
    (["--density", "0.5"], "--density 0.5 disagrees"),
])
def test_model_that_disagrees_with_an_option(model_file, argv, option, cache):
    with pytest.raises(EseError, match=option):
        design_from_args(_args([str(model_file), *argv]), cache_dir=cache)


def test_missing_or_corrupt_model(tmp_path, cache):
    with pytest.raises(EseError, match="no such file"):
        make_design(model_path=tmp_path / "absent.npz", cache_dir=cache)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(EseError, match="bad.npz"):
        make_design(model_path=bad, cache_dir=cache)


def test_broadcast_option(model_file, cache):
    d = design_from_args(_args([*SMALL, "--broadcast", "2"]), cache_dir=cache)
    assert d.params.broadcast == 2
    assert d.params == ChannelParams.for_model(d.model, broadcast=2)
    # A model file's PE count (4) is the one a width must divide.
    with pytest.raises(EseError, match="^--broadcast 8 must divide the PE count 4$"):
        design_from_args(_args([str(model_file), "--broadcast", "8"]), cache_dir=cache)
    grid = grid_from_args(_args(["--pes", "4,8", "--broadcast", "1,4"], multi=True))
    assert [(g["n_pe"], g["broadcast"]) for g in grid] == [(4, 1), (4, 4), (8, 1), (8, 4)]
    with pytest.raises(EseError, match="^--broadcast 8 must divide the PE count 4$"):
        grid_from_args(_args(["--pes", "4,8", "--broadcast", "8"], multi=True))


def test_grid_takes_lists_and_checks_every_value():
    grid = grid_from_args(_args(["--pes", "4,8", "--channels", "1,2", "--index-bits", "4,6"],
                                multi=True))
    assert len(grid) == 8
    assert [(g["n_pe"], g["n_channels"], g["index_bits"]) for g in grid[:3]] == [
        (4, 1, 4), (4, 1, 6), (4, 2, 4)]
    shared = grid_from_args(_args(["--pes", "4,8", "--ew-share", "1,4"], multi=True))
    assert [(g["n_pe"], g["ew_share"]) for g in shared] == [(4, 1), (4, 4), (8, 1), (8, 4)]
    for argv, message in ((["--pes", "4,0"], "--pes must be an integer >= 1, got 0"),
                          (["--pes", "4,6", "--ew-share", "2,4"],
                           "--ew-share 4 must divide the PE count 6"),
                          (["--channels", "1,65"], "--channels must be an integer in 1..64"),
                          (["--index-bits", "4,,6"], "--index-bits must be a comma list"),
                          (["--pes", "4,4"], "--pes lists a value twice")):
        with pytest.raises(EseError, match=message):
            grid_from_args(_args(argv, multi=True))


def test_the_library_takes_typed_values(cache):
    """make_design and design_grid take numbers, not the command line's strings; the
    defaults are limits.DEFAULTS'; a bad value is one line naming its option."""
    d = make_design(shape=SHAPE, density=0.25, n_pe=4, cache_dir=cache)
    assert (d.params.queue_depth, d.params.n_channels, d.clock_mhz) == (8, 1, 200.0)
    grid = design_grid(shape=SHAPE, density=0.25, n_pe=(2, 4), n_channels=(1, 2),
                       clock_mhz=250)
    assert [(g["n_pe"], g["n_channels"]) for g in grid] == [(2, 1), (2, 2), (4, 1), (4, 2)]
    assert all(g["clock_mhz"] == 250.0 and g["queue_depth"] == 8 and g["broadcast"] == 1
               for g in grid)
    for kw, message in (({"n_pe": (4, "8")}, "--pes must be an integer, got '8'"),
                        ({"n_channels": ()}, "--channels lists no value"),
                        ({"index_bits": (4, 4)}, "--index-bits lists a value twice"),
                        ({"clock_mhz": 0.5}, "--clock-mhz must be a number in 1..1000"),
                        ({"density": "0.5"}, "--density must be a number")):
        with pytest.raises(EseError, match=message):
            design_grid(shape=SHAPE, **kw)
    with pytest.raises(EseError, match="--queue-depth must be an integer in 1..256, got 0"):
        make_design(shape=SHAPE, density=0.25, n_pe=4, queue_depth=0, cache_dir=cache)
