"""``ese-hw generate``: the Vivado-ready tree of a small design, through the command line.

One generation per configuration (a module fixture); the checks read its files and
compare them with the library's own values: ChannelParams, the cycle model, the load
stream.
"""

import json
import os
import re
import shutil
import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.cli import main
from ese_hw.flows.design import make_design
from ese_hw.flows.generate import TOP_NAME, check_out_dir
from ese_hw.gateware.load import LoadError
from ese_hw.gateware.params import ChannelParams
from ese_hw.gateware.top import DEFAULT_Y_FIFO_DEPTH
from ese_hw.gateware.verilog import dedupe_modules, split_verilog_modules, verilog_instances
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images, load_words
from ese_hw.model.loadstream import LOAD_MAGIC, LOAD_VERSION, model_load_bytes
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.runner import simulator_available, verilator_lint

SHAPE = (16, 64, 32)
OPTIONS = ["--shape", "16,64,32", "--density", "0.25", "--pes", "4"]
AXI_PORTS = {"aclk", "aresetn",
             *(f"s_axis_x_t{s}" for s in ("data", "valid", "ready", "last", "user")),
             *(f"m_axis_y_t{s}" for s in ("data", "valid", "ready", "last")),
             *(f"s_axis_load_t{s}" for s in ("data", "valid", "ready", "last"))}
FILES = {f"{TOP_NAME}.v", f"{TOP_NAME}.xdc", f"{TOP_NAME}.tcl", f"build_{TOP_NAME}.sh",
         "load.bin", "config.json", "README.md"}


def _one_error_line(capsys):
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ese-hw: error: ") and "Traceback" not in err
    return lines[0]


def _leftovers(directory):
    """Temporary directories generate left beside its output."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A working directory (the model cache build/models is relative to it)."""
    d = tmp_path_factory.mktemp("generate")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(d)
        yield d


@pytest.fixture(scope="module")
def out(work):
    """2 lock-step channels at 250 MHz, 2 PEs per element-wise unit, images loaded at
    run time."""
    d = work / "gen250"
    assert main(["generate", *OPTIONS, "--channels", "2", "--clock-mhz", "250",
                 "--ew-share", "2", "-o", str(d)]) == 0
    design = make_design(shape=SHAPE, density=0.25, n_pe=4, n_channels=2, clock_mhz=250,
                         ew_share=2, cache_dir=work / "build" / "models")
    return SimpleNamespace(dir=d, design=design,
                           config=json.loads((d / "config.json").read_text()))


@pytest.fixture(scope="module")
def baked(work):
    """One channel at the default clock, images baked in."""
    d = work / "baked"
    assert main(["generate", *OPTIONS, "--bake", "-o", str(d)]) == 0
    return d


def _verilog_ports(path):
    text = path.read_text()
    header = re.search(rf"^module {TOP_NAME}\((.*?)\);", text, re.M | re.S)
    assert header, "no top module"
    return {p.strip() for p in header.group(1).split(",")}


# ---------------------------------------------------------------------------- the tree

def test_files_present(out):
    names = {p.name for p in out.dir.iterdir()}
    assert FILES <= names
    assert set(out.config["files"]) == names                # config.json lists them all
    assert os.access(out.dir / f"build_{TOP_NAME}.sh", os.X_OK)
    assert not _leftovers(out.dir.parent)


def test_vivado_flow_out_of_context_on_the_xcku060(out):
    tcl = (out.dir / f"{TOP_NAME}.tcl").read_text()
    assert f"synth_design -top {TOP_NAME} -mode out_of_context -part xcku060-ffva1156-2-e" in tcl
    for step in ("opt_design", "place_design", "route_design",
                 f"report_utilization -file {TOP_NAME}_utilization_route.rpt",
                 f"report_timing_summary -datasheet -max_paths 10 -file {TOP_NAME}_timing.rpt"):
        assert step in tcl
    assert tcl.index("quit") < tcl.index("write_bitstream")      # no bitstream out of context
    script = (out.dir / f"build_{TOP_NAME}.sh").read_text()
    assert f"-mode batch -log {TOP_NAME}.log -source {TOP_NAME}.tcl" in script
    assert out.config["part"] == "xcku060-ffva1156-2-e"


@pytest.mark.parametrize("fixture, period", [("out", "4.000"), ("baked", "5.000")])
def test_clock_period_on_aclk(fixture, period, request):
    d = request.getfixturevalue(fixture)
    d = getattr(d, "dir", d)
    xdc = (d / f"{TOP_NAME}.xdc").read_text()
    assert f"create_clock -name aclk -period {period} [get_ports aclk]" in xdc


def test_axi_port_names_in_verilog_and_config(out):
    ports = _verilog_ports(out.dir / f"{TOP_NAME}.v")
    assert AXI_PORTS <= ports
    assert not {"clk", "rst"} & ports                    # the top's clock is aclk
    table = {p["name"]: p for p in out.config["ports"]}
    assert set(table) == ports
    assert table["s_axis_x_tuser"]["width"] == 2          # one reset bit per channel
    assert table["s_axis_load_tdata"]["width"] % 8 == 0
    assert table["m_axis_y_tready"]["direction"] == "in"
    # The load status: loaded, a stream under way, the code of a refused one.
    assert [(table[n]["direction"], table[n]["width"]) for n in
            ("loaded", "loading", "load_error")] == [("out", 1), ("out", 1), ("out", 3)]


@pytest.mark.sim
@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not installed")
@pytest.mark.parametrize("fixture", ["out", "baked"])
def test_verilog_passes_verilator_lint(fixture, request):
    d = request.getfixturevalue(fixture)
    d = getattr(d, "dir", d)
    errors = verilator_lint(d / f"{TOP_NAME}.v", TOP_NAME)
    assert not errors, "\n".join(errors[:20])


# ---------------------------------------------------------------------------- contents

def test_config_holds_the_channel_parameters(out):
    c, params = out.config, out.design.params
    assert ChannelParams.from_dict(c["channel"]) == params
    assert c["channel"] == json.loads(json.dumps(params.to_dict()))
    assert c["qformats"] == dict(params.qformats)
    depths = c["memory_depths"]["per_pe"]
    assert depths["entry"]["words"] == params.entry_depth
    assert depths["entry"]["bits"] == params.weight_bits + params.index_bits
    assert depths["pointer"]["words"] == params.n_cols + 1
    assert c["channel"]["ew_share"] == 2 and c["memory_depths"]["n_cell_units"] == 2
    assert c["clock"] == {"port": "aclk", "mhz": 250.0, "period_ns": 4.0}
    assert c["y_fifo_depth"] == DEFAULT_Y_FIFO_DEPTH
    assert c["model"]["baked"] is False and c["model"]["source"].startswith("random(16,64,32")


def test_config_performance_is_the_cycle_model(out):
    perf, design = out.config["performance"], out.design
    golden = GoldenModel(design.model)
    rng = np.random.default_rng(perf["seed"])
    x_q = np.stack([golden.quantize_inputs(rng.standard_normal((perf["frames"], SHAPE[0])))
                    for _ in range(2)])
    ref = channel_cycles(design.model, x_q, queue_depth=design.params.queue_depth,
                         ew_share=design.params.ew_share, timing=design.params.timing)
    assert perf["frame_done_cycles"] == [int(d) for d in ref["frame_done"]]
    assert perf["cycles_per_frame"] == pytest.approx(ref["cycles_per_frame"])
    assert perf["clock_mhz"] == 250
    assert perf["latency_us"] == pytest.approx(ref["cycles_per_frame"] / 250)
    assert perf["utilization"] == pytest.approx(ref["utilization"])
    # A step ends after its frame_done (y still streams out), and overlaps the next.
    assert perf["cycles_per_frame"] < perf["step_cycles"] < 2 * perf["cycles_per_frame"]


def test_broadcast_figures_and_depths():
    """A K = 4 design: its cycle figures are the cycle model's for K = 4, its pointer
    memory one word per column group, its entry words 2 sub bits wider."""
    from ese_hw.flows.generate import cycle_figures, memory_depths

    design = make_design(shape=SHAPE, density=0.25, n_pe=4, n_channels=1, broadcast=4)
    perf = cycle_figures(design, frames=3)
    golden = GoldenModel(design.model)
    rng = np.random.default_rng(perf["seed"])
    x_q = golden.quantize_inputs(rng.standard_normal((3, SHAPE[0])))[None]
    ref = channel_cycles(design.model, x_q, queue_depth=8, broadcast=4)
    assert perf["frame_done_cycles"] == [int(d) for d in ref["frame_done"]]
    assert ref["cycles_per_frame"] != channel_cycles(design.model, x_q,
                                                     queue_depth=8)["cycles_per_frame"]
    depths = memory_depths(design.params)["per_pe"]
    assert depths["pointer"]["words"] == 16 // 4 + 32 // 4 + 64 // 4 + 1
    assert depths["entry"]["bits"] == design.params.weight_bits + design.params.index_bits + 2


def test_load_bin_is_the_load_stream(out):
    blob = (out.dir / "load.bin").read_bytes()
    assert blob == model_load_bytes(out.design.params, out.design.model)
    ls = out.config["load_stream"]
    assert len(blob) == ls["bytes"] == ls["beats"] * ls["beat_bytes"]
    assert ls["beat_bytes"] * 8 == out.config["tdata_bits"]["s_axis_load"]
    # The checked stream: the header, the model's words, zlib's CRC-32 of all before it.
    params, n = out.design.params, ls["beat_bytes"]
    words = len(load_words(channel_images(out.design.model, params.broadcast)))
    assert ls["header"] == {"magic": LOAD_MAGIC, "version": LOAD_VERSION,
                            "config": params.load_config, "length": words}
    assert ls["beats"] == 4 + words + 1 and blob[:4] == b"ESEL"
    assert ls["crc32"] == zlib.crc32(blob[:-n]) == int.from_bytes(blob[-n:], "little")
    assert ls["load_error_codes"]["checksum"] == LoadError.CHECKSUM.value


def test_bake_puts_the_images_in_the_verilog(out, baked):
    config = json.loads((baked / "config.json").read_text())
    assert config["model"]["baked"] is True
    # The same model (channels do not change compression): PE 0's first entry words are
    # an entry memory's initial values in the baked Verilog only.
    words = out.design.model.gate.words[0][:4]
    bits = out.design.params.weight_bits + out.design.params.index_bits
    init = "\n".join(f"    mem[{k}] = {bits}'h{int(w):0{-(-bits // 4)}x};"
                     for k, w in enumerate(words))
    assert init in (baked / f"{TOP_NAME}.v").read_text()
    assert init not in (out.dir / f"{TOP_NAME}.v").read_text()


def test_verilog_writes_each_distinct_unit_once(out, baked):
    """The tree's Verilog holds one module per distinct unit: the 4 PEs of the loaded-at-
    run-time top share one module (their element-wise units are in the cell units, so
    not even PE 0's cells_done sets it apart); baked, every PE holds other images, so
    every PE is a module of its own."""
    for d, pe_modules in ((out.dir, 1), (baked, 4)):
        text = (d / f"{TOP_NAME}.v").read_text()
        modules = split_verilog_modules(text)
        instances = [i for t in modules.values() for i in verilog_instances(t)]
        pes = [kind for kind, name in instances if re.fullmatch(r"pe\d+", name)]
        assert len(pes) == 4 and len(set(pes)) == pe_modules, pes
        assert dedupe_modules(text) == "".join(modules.values())    # nothing to merge


def test_readme_names_ports_load_and_vivado(out):
    readme = (out.dir / "README.md").read_text()
    for text in ("s_axis_load_tdata", "m_axis_y_tlast", "load.bin", "docs/contract.md",
                 "load_error", "CRC-32", f"0x{out.config['load_stream']['crc32']:08x}",
                 f"sh build_{TOP_NAME}.sh", "vivado -mode batch"):
        assert text in readme


# ---------------------------------------------------------------------------- the DIR

def test_previous_output_is_replaced(out, work):
    d = work / "again"
    shutil.copytree(out.dir, d)
    assert main(["generate", *OPTIONS, "--clock-mhz", "100", "-o", str(d)]) == 0
    assert "-period 10.000" in (d / f"{TOP_NAME}.xdc").read_text()
    assert not _leftovers(work)


def test_failure_leaves_no_dir(work, monkeypatch):
    import ese_hw.flows.generate as gen

    def broken(design, frames=8, **_):
        raise RuntimeError("cycle model failed")

    monkeypatch.setattr(gen, "cycle_figures", broken)
    d = work / "broken"
    with pytest.raises(RuntimeError):
        main(["generate", *OPTIONS, "-o", str(d)])
    assert not d.exists() and not _leftovers(work)


@pytest.fixture(scope="module")
def model_file(work):
    path = work / "model_16x64x32.npz"
    compress(random_weights(*SHAPE, seed=1), Config(n_pe=4, density=0.25, index_bits=6)).save(path)
    return path


SMALL = ["--shape", "16,64,32"]


@pytest.mark.parametrize("argv, message", [
    ([*SMALL, "--pes", "0"], "--pes must be an integer >= 1, got 0"),
    ([*SMALL, "--channels", "65"], "--channels must be an integer in 1..64, got 65"),
    ([*SMALL, "--index-bits", "9"], "--index-bits must be an integer in 2..8, got 9"),
    ([*SMALL, "--clock-mhz", "-5"], "--clock-mhz must be a number in 1..1000, got -5"),
    ([*SMALL, "--y-fifo-depth", "0"], "--y-fifo-depth must be an integer in 1..65536, got 0"),
    ([*SMALL, "--broadcast", "17"], "--broadcast must be an integer in 1..16, got 17"),
    ([*SMALL, "--broadcast", "x"], "--broadcast must be an integer, got 'x'"),
    ([*SMALL, "--pes", "4", "--broadcast", "3"], "--broadcast 3 must divide the PE count 4"),
    (["{model}", "--shape", "16,64,16"], "--shape 16,64,16 disagrees with"),
    (["{work}/absent.npz"], "absent.npz: no such file"),
    (["{work}/corrupt.npz"], "corrupt.npz: not a readable .npz"),
])
def test_bad_option_is_one_line_and_no_dir(argv, message, work, model_file, capsys):
    (work / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    argv = [a.format(model=model_file, work=work) for a in argv]
    d = work / "bad"
    assert main(["generate", *OPTIONS[2:], *argv, "-o", str(d)]) == 2
    assert message in _one_error_line(capsys)
    assert not d.exists() and not _leftovers(work)


def test_existing_dir_that_is_not_an_output(out, work, capsys):
    d = work / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    assert main(["generate", *OPTIONS, "-o", str(d)]) == 2
    assert "is not an ese-hw generate output" in _one_error_line(capsys)
    assert [p.name for p in d.iterdir()] == ["notes.txt"]
    # A previous output with someone's file in it (Vivado's reports) is not replaced.
    prev = work / "prev"
    shutil.copytree(out.dir, prev)
    (prev / f"{TOP_NAME}_timing.rpt").write_text("a Vivado report")
    assert main(["generate", *OPTIONS, "-o", str(prev)]) == 2
    assert "ese_top_timing.rpt" in _one_error_line(capsys)
    assert (prev / f"{TOP_NAME}_timing.rpt").exists()
    # An empty directory is fine.
    empty = work / "empty"
    empty.mkdir()
    assert check_out_dir(empty) is True
