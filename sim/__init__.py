"""cocotb testbenches for the generated Verilog, and the stream helpers they share.

The repo keeps this package in the top-level ``sim/`` folder; it installs as
``ese_hw.sim`` (see ``package-dir`` in pyproject.toml), so testbench modules are named
``ese_hw.sim.tb_*``. They run inside the simulator, are started by
:func:`ese_hw.simtools.run_test` and get their data through
:func:`ese_hw.simtools.load_tb_data`.
"""
