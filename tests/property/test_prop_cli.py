"""Every option of every ``ese-hw`` command, given values drawn across and beyond its
range, either works or gives exactly one stderr line and exit code 2: never a
traceback, never exit 1, never a partial output (tests/cli_expect.py).

Commands run in process on a tiny model; the steps that take minutes stop at a
checkpoint that asserts what reached them is buildable (tests/property/workspace.py).
"""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli_expect import assert_one_line_error, run_cli
from tests.property.workspace import N_CELLS, check_command

# ---------------------------------------------------------------------------- values

#: Strings no option should take, and a few it should (in another spelling).
HOSTILE = ["", " ", "nan", "NaN", "inf", "-inf", "+inf", "-1", "-0", "0", "1e-12", "1e-9",
           "1e999", "0x10", "1_0", "\u0663", "abc", "-", "--", "9" * 40, "-" + "9" * 40,
           "1,2", "2,,4", "1.5", " 7 ", "\u200b3"]


def either(valid, wild):
    """``valid`` values in a tame example (every option of the command line in range,
    so that the command can work), ``valid`` or ``wild`` ones in any other: one draw
    per example, shared by all its options."""
    return st.shared(st.booleans(), key="tame").flatmap(
        lambda tame: valid if tame else st.one_of(valid, wild))


def ints(lo, hi):
    """Integer option values: in ``lo..hi``, near it, far beyond, and hostile strings."""
    return either(st.integers(lo, hi).map(str),
                  st.one_of(st.integers(lo - 3, hi + 3).map(str), st.integers(0, 64).map(str),
                            st.integers(-2**70, 2**70).map(str), st.sampled_from(HOSTILE)))


def floats(lo, hi):
    return either(st.floats(lo, hi).map(repr),
                  st.one_of(st.floats().map(repr),
                            st.sampled_from(["1e-12", "1e-9", "5e-324", "1e308", "1.0000001",
                                             "1", *HOSTILE])))


def words(*valid):
    return either(st.sampled_from(valid),
                  st.sampled_from([*(v.upper() for v in valid), "", " ", "none?"]))


def int_lists(lo, hi):
    """A sweep's comma lists."""
    return either(st.lists(st.integers(lo, hi), min_size=1, max_size=3, unique=True)
                  .map(lambda v: ",".join(map(str, v))),
                  st.one_of(ints(lo, hi), st.lists(st.integers(lo - 1, hi + 1), min_size=1,
                                                   max_size=4)
                            .map(lambda v: ",".join(map(str, v)))))


def paths(*valid):
    """Path option values: ``{name}`` is an input of ``ws`` or ``{out}`` the example's own
    output directory."""
    return either(st.sampled_from(valid[:1]),
                  st.sampled_from([*valid, "{dir}", "{out}/nodir/f", "", "{missing}"]))


def option(name, values):
    """``[]`` (omitted), ``[name=value]`` or ``[name, value]`` (a value starting with a
    dash is then read by argparse as an option)."""
    return st.one_of(st.just([]), given_option(name, values))


def given_option(name, values):
    """``[name=value]`` or ``[name, value]``, never omitted."""
    return st.one_of(values.map(lambda v: [f"{name}={v}"]), values.map(lambda v: [name, v]))


def flag(name):
    return st.sampled_from([[], [name]])


def argv(*parts):
    """One command line: the fixed parts, then the options in a drawn order."""
    fixed = [p for p in parts if isinstance(p, list)]
    drawn = [p for p in parts if not isinstance(p, list)]
    return st.tuples(*drawn).flatmap(lambda opts: st.permutations(opts)).map(
        lambda opts: [a for part in fixed for a in part] + [a for o in opts for a in o])


SHAPES = either(st.tuples(st.integers(1, 9), st.integers(4, 12), st.integers(1, 9))
                .map(lambda s: ",".join(map(str, s))),
                st.sampled_from(["0,8,4", "-1,8,4", "6,8", "6,8,4,1", "a,b,c", "", "6, 8 ,4",
                                 "10000000000,8,4", "6,8,4.0", "1,1,1"]))


def design_options(multi=False):
    many = int_lists if multi else ints
    return [option("--density", floats(0.05, 1.0)), option("--pes", many(1, 12)),
            option("--channels", many(1, 64)), option("--ew-share", many(1, 4)),
            option("--index-bits", many(2, 8)), option("--broadcast", many(1, 16)),
            option("--queue-depth", ints(1, 256)),
            option("--clock-mhz", floats(1.0, 1000.0))]


def design_source():
    """A model file, or a small ``--shape`` (never the paper's default shape, whose
    compression would take the fuzz's whole budget)."""
    files = either(st.sampled_from(["{model}", "{weights}"]),
                   st.sampled_from(["{x}", "{missing}", "{dir}"]))
    return st.one_of(files.map(lambda p: [p]), SHAPES.map(lambda s: [f"--shape={s}"]),
                     st.tuples(st.just("{weights}"), SHAPES).map(
                         lambda t: [t[0], f"--shape={t[1]}"]))


#: A dimension of ``init``: small, or beyond the supported weight count (a drawn 10**6,
#: or the paper's default shape, is a valid model that takes seconds to write).
DIMS = either(st.integers(1, 12).map(str),
              st.one_of(st.integers(-3, 0).map(str), st.integers(1 << 26, 2**70).map(str),
                        st.sampled_from(HOSTILE)))

COMMANDS = {
    "init": argv(["init"], paths("{out}/w.npz").map(lambda p: [p]),
                 given_option("--input", DIMS), given_option("--cells", DIMS),
                 given_option("--proj", DIMS), option("--seed", ints(0, 2**64))),
    "import": argv(["import"], paths("{pt}", "{weights}", "{x}").map(lambda p: [p]),
                   paths("{out}/w.npz").map(lambda p: ["-o", p]),
                   option("--prefix", words("", "lstm.", "weight_ih"))),
    "compress": argv(["compress"], paths("{weights}", "{model}", "{x}").map(lambda p: [p]),
                     paths("{out}/m.npz").map(lambda p: ["-o", p]),
                     option("--pes", ints(1, 12)), option("--density", floats(0.0, 1.0)),
                     option("--weight-bits", ints(2, 18)), option("--act-bits", ints(4, 24)),
                     option("--index-bits", ints(2, 8)), option("--accum-bits", ints(8, 62)),
                     option("--balance", words("pe", "column", "none")),
                     option("--calib", paths("{x}", "{xbad}", "{weights}")),
                     option("--report", paths("{out}/r.json"))),
    "run": argv(["run"], paths("{model}", "{weights}", "{x}").map(lambda p: [p]),
                paths("{x}", "{x3}", "{xbad}").map(lambda p: ["--inputs", p]),
                paths("{out}/y.npy").map(lambda p: ["-o", p]),
                option("--engine", words("float", "golden", "rtl")),
                option("--sim", words("icarus", "verilator")),
                option("--channels", ints(1, 64)), option("--queue-depth", ints(1, 256)),
                option("--broadcast", ints(1, 16)), option("--ew-share", ints(1, 4)),
                option("--build-dir", paths("{out}/rtl")), flag("--bake"),
                option("--harness", words("native", "cocotb")),
                option("--report", paths("{out}/r.json"))),
    "demo": argv(["demo"], option("--frames", ints(1, 10)),
                 option("--rtl-frames", ints(0, 10)), option("--sim", words("icarus")),
                 option("--out", paths("{out}/demo"))),
    "generate": argv(["generate"], design_source(), *design_options(), flag("--bake"),
                     option("--y-fifo-depth", ints(1, 65536)),
                     paths("{out}/g").map(lambda p: ["-o", p])),
    "estimate": argv(["estimate"], design_source(), *design_options(),
                     option("--y-fifo-depth", ints(1, 65536)),
                     option("--margin", floats(0.01, 1.0)),
                     option("--cache-dir", paths("{out}/cache")),
                     option("--report", paths("{out}/r.json"))),
    "sweep": argv(["sweep"], design_source(), *design_options(multi=True),
                  option("--model", paths("{model}", "{weights}")),
                  option("--frames", ints(1, 10)), option("--margin", floats(0.01, 1.0)),
                  option("--rtl-check", ints(0, 3)),
                  option("--scheduler", st.sampled_from(["tcp://127.0.0.1:1", "", "x"])),
                  option("--workers", ints(1, 4)), paths("{out}/s").map(lambda p: ["-o", p])),
}


#: The commands whose drawn options may reach a tool (``run --engine rtl``: a simulator;
#: ``estimate``: Yosys), by the tier marker that allows it (tests/conftest.py).
TOOL_MARKS = {"run": pytest.mark.sim, "estimate": pytest.mark.synth}


@pytest.mark.parametrize("command", [pytest.param(c, marks=TOOL_MARKS.get(c, ()))
                                     for c in COMMANDS])
def test_every_option_works_or_fails_in_one_line(ws, command):
    if command == "import" and ws.pt is None:
        pytest.skip("ese-hw import needs the torch extra")
    outcomes = []

    @given(COMMANDS[command])
    def fuzz(args):
        outcomes.append(check_command(ws, args))

    fuzz()
    # The draws reach both sides: a fuzz that only ever fails proves little.
    assert "error" in outcomes
    assert set(outcomes) - {"error"}, outcomes


# Values chosen to show each known failure, beside the drawn ones.
EXTREMES = [
    (["compress", "{weights}", "-o", "{out}/m.npz", "--density", "1e-9", "--pes", "2"],
     "density 1e-09 keeps none of the"),
    (["compress", "{weights}", "-o", "{out}/m.npz", "--density", "1e-12", "--pes", "1"],
     "density 1e-12 keeps none of the"),
    (["compress", "{weights}", "-o", "{out}/m.npz", "--pes", "100000"],
     f"PE count 100000 exceeds the model's {N_CELLS} cells"),
    (["generate", "--shape", "3,3,2", "--pes", "100000", "-o", "{out}/g"],
     "PE count 100000 exceeds the model's 3 cells"),
    (["sweep", "--shape", "6,16,4", "--pes", "8,32", "-o", "{out}/s"],
     "PE count 32 exceeds the model's 16 cells"),
    (["compress", "{weights}", "-o", "{out}/m.npz", "--pes", "nan"],
     "argument --pes: invalid int value: 'nan' (see ese-hw compress --help)"),
    (["compress", "{weights}"], "the following arguments are required: -o/--output"),
    (["compress", "{weights}", "-o", "{out}/m.npz", "--pes=--"],
     "PE count must be an integer, got []"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["compress", "{weights}", "-o", "{out}/m.npz", "--density", "-inf"], "--density"),
    (["init", "{out}/w.npz", "--cells", "10000000000"], "10000000000 cells, 512 projections "
     "make 31,720,000,000,000 matrix weights, more than the 67,108,864 supported"),
    (["generate", "--shape", "4,4,2", "--queue-depth", "1000000000", "-o", "{out}/g"],
     "--queue-depth must be an integer in"),
    (["generate", "--shape", "4,4,2", "--y-fifo-depth", "1000000000", "-o", "{out}/g"],
     "--y-fifo-depth must be an integer in"),
    (["generate", "--shape", "4,4,2", "--clock-mhz", "5e-324", "-o", "{out}/g"],
     "--clock-mhz must be a number in"),
    (["demo", "--frames", "10000000000000"], "--frames must be an integer in"),
]


@pytest.mark.parametrize("args, words", EXTREMES, ids=[" ".join(a) for a, _ in EXTREMES])
def test_extremes_give_one_line_naming_the_value(ws, args, words):
    out = ws.root / f"x{ws.n}"
    ws.n += 1
    out.mkdir()
    args = [a.format(out=out, weights=ws.weights) for a in args]
    r = run_cli(args)
    line = assert_one_line_error(r.code, r.err)
    assert words in line, line
    assert os.listdir(out) == []
