"""Designs that more than one test file builds, given once.

The same configuration generates the same Verilog, so the session's Yosys result cache
(``ESE_SYNTH_CACHE``, tests/conftest.py) synthesizes its parts once for all of them:
a PE with its three 4096-entry lookup tables costs ~100 s of Yosys even this small.
"""

__all__ = ["SMALL_DESIGN"]

#: Two PEs at a small shape, every other option the command line's default (one lane,
#: 6-bit indices, queue depth 8): the demo's test runs it end to end (its estimate
#: included) and tests/flows/test_estimate.py estimates it and checks the counts.
SMALL_DESIGN = dict(shape=(8, 8, 4), density=0.5, n_pe=2)
