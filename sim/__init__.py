"""cocotb testbenches for the generated Verilog, and the stream helpers they share.

Testbench modules (``sim/tb_*.py``) run inside the simulator; they are started by
:func:`ese_hw.simtools.run_cocotb` and get their data through
:func:`ese_hw.simtools.load_tb_data`.
"""
