"""RTL simulation: the cached simulator builds and runs, the RTL engine, and the testbenches.

:mod:`.runner` builds generated Verilog on Icarus or Verilator (cached by content, locked)
and runs a cocotb testbench on it; :mod:`.native` builds the AXI4-Stream top with a plain
Verilog harness instead, which runs with no Python in the cycle loop; :mod:`.rtl` is
``run --engine rtl`` on top of them; the cocotb testbenches themselves
(:mod:`.testbenches`) live in the repo's top-level ``sim/`` folder.
"""
