"""ese_hw: a generator for the ESE sparse-LSTM accelerator (Han et al., FPGA'17)."""

__version__ = "0.1.0"
