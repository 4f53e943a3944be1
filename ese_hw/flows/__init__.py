"""The user's jobs, end to end: design, generate, estimate, sweep, demo and the engines.

Each module here composes the layers below it (:mod:`ese_hw.simulation`,
:mod:`ese_hw.synthesis`, :mod:`ese_hw.gateware`, :mod:`ese_hw.model`) into one job of the
``ese-hw`` command; none of them parses command-line options (that is :mod:`ese_hw.cli`).
"""
