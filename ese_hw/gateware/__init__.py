"""The hardware half of ESE: Amaranth 0.5 components.

The SpMV engine (one ESE channel's PE array) and its parts, one per module:
:mod:`.pointer` (even/odd pointer banks), :mod:`.matrix_reader` (entry walk and
decode), :mod:`.accumulator` (multiply, wrap-around accumulate with forwarding),
:mod:`.pe` (queue + the three above) and :mod:`.spmv` (broadcaster, PE array,
loads, readout). Cycle counts: :mod:`ese_hw.model.cycles`.
"""

from .accumulator import Accumulator
from .matrix_reader import MatrixReader
from .pe import PE
from .pointer import PointerReader
from .spmv import LoadTarget, SpMV

__all__ = ["Accumulator", "LoadTarget", "MatrixReader", "PE", "PointerReader", "SpMV"]
