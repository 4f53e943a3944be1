"""RTL simulation: the cached simulator builds and runs, the RTL engine, and the testbenches.

:mod:`.runner` builds generated Verilog on Icarus or Verilator (cached by content, locked)
and runs a cocotb testbench on it; :mod:`.rtl` is ``run --engine rtl`` on top of it; the
testbenches themselves (:mod:`.testbenches`) live in the repo's top-level ``sim/`` folder.
"""
