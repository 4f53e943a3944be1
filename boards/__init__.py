"""FPGA platforms for ese_hw: the XCKU060 target (:mod:`boards.xcku060`)."""
