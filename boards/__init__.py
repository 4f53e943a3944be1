"""FPGA platforms for ese_hw: the XCKU060 target (:mod:`ese_hw.boards.xcku060`).

The repo keeps this package in the top-level ``boards/`` folder; it installs as
``ese_hw.boards`` (see ``package-dir`` in pyproject.toml).
"""
