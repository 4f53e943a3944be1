"""cocotb testbenches for the generated Verilog, and the stream helpers they share.

The repo keeps this package in the top-level ``sim/`` folder; it installs as
``ese_hw.simulation.testbenches`` (see ``package-dir`` in pyproject.toml), so testbench modules are
named
``ese_hw.simulation.testbenches.tb_*``. They run inside the simulator, are started by
:func:`ese_hw.simulation.runner.run_test` and get their data through
:func:`ese_hw.simulation.runner.load_tb_data`.
"""
