"""The SpMV engine: an array of PEs fed by one activation broadcaster (ESE channel core)."""

import numpy as np
from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ._params import check_bool, check_image, check_int, validated
from .pe import PE
from .pointer import route_load

__all__ = ["SpMV", "LoadTarget", "State", "load_layout"]


class LoadTarget(enum.Enum, shape=2):
    """Which memory a ``load`` word goes to."""
    ENTRY = 0   #: entry memory word ``addr`` of PE ``pe``
    PTR = 1     #: pointer ``addr`` (0 .. n_cols) of PE ``pe``
    BIAS = 2    #: initial value of local row ``addr`` of PE ``pe`` (``bias=True`` only)


class State(enum.Enum, shape=2):
    IDLE = 0      #: loads accepted, waiting for ``start``
    RUN = 1       #: broadcasting activations and accumulating
    READOUT = 2   #: streaming the accumulators out on ``result``


def load_layout(pe_bits, addr_bits, data_bits):
    """Payload of the ``load`` stream."""
    return data.StructLayout({
        "target": LoadTarget,
        "pe": unsigned(pe_bits),
        "addr": unsigned(addr_bits),
        "data": unsigned(data_bits),
    })


class SpMV(wiring.Component):
    """Sparse matrix (per-PE CSC, docs/contract.md section 2) times a streamed vector.

    ``n_pe`` :class:`PE` s share one activation broadcaster. After ``start`` the
    broadcaster takes ``n_cols`` activations from ``act`` (one per column, in
    column order, one per cycle at most). A zero activation is consumed and
    skipped; a non-zero one is pushed, with its column index, into every PE's
    queue in the cycle it is taken, which happens only when no queue is full.
    Each PE then walks its entries of that column (``ptr[j] .. ptr[j+1] - 1``) and
    accumulates ``weight * act`` into its local rows, wrapping at ``accum_bits``.

    When every column is accumulated, ``done`` pulses for one cycle and the
    accumulators stream out on ``result``: local row 0 of PE 0 .. N-1, then local
    row 1 of PE 0 .. N-1, ..., up to ``n_rows - 1``. ``busy`` is high from the cycle
    after ``start`` until the last result word is taken. ``ese_hw.model.cycles``
    gives the exact cycle count from ``start`` to ``done``.

    Fixed point: ``act`` is ``signed(act_bits)``, weights ``signed(weight_bits)``;
    ``result`` is ``signed(accum_bits)`` in the sum of their Q formats, wrapped
    (never saturated). With ``bias=True`` each row starts from its bias (loaded
    like the other memories, same Q format as the accumulator), else from 0.

    Parameters (keyword-only)
    ----------
    n_pe : int >= 1
    weight_bits : int in 2..18
    index_bits : int in 2..8
    act_bits : int in 2..27
    accum_bits : int in weight_bits + act_bits .. 64
    queue_depth : int >= 1
        Activation queue depth per PE (columns).
    entry_depth : int >= 1
        Entry memory words per PE.
    n_cols_max : int >= 1
        Largest ``n_cols`` (pointer memory holds ``n_cols_max + 1`` values per PE).
    local_rows : int >= 1
        Accumulator rows per PE.
    bias : bool
        Add per-PE bias memories (``LoadTarget.BIAS``).
    init : SpmvImage, optional
        Elaboration-time entry and pointer images (from ``encode_spmv``).
    init_bias : (n_pe, rows) ints, optional
        Elaboration-time bias image (``bias=True``).

    Members
    -------
    start : In(1)
        Begin an SpMV (sampled in ``IDLE`` only); clears the accumulators.
    n_cols : In(range(n_cols_max + 1))
        Columns of this SpMV, sampled with ``start``.
    n_rows : In(range(local_rows + 1))
        Local rows to read out, sampled with ``start``.
    act : In(stream.Signature(signed(act_bits)))
    result : Out(stream.Signature(signed(accum_bits)))
    load : In(stream.Signature(load_layout))
        Memory writes; accepted only when not ``busy``.
    busy, done : Out(1)
    """

    @validated
    def __init__(self, *, n_pe, weight_bits, index_bits, act_bits, accum_bits,
                 queue_depth=8, entry_depth, n_cols_max, local_rows, bias=False,
                 init=None, init_bias=None):
        check_int("n_pe", n_pe, 1)
        check_int("weight_bits", weight_bits, 2, 18)
        check_int("index_bits", index_bits, 2, 8)
        check_int("act_bits", act_bits, 2, 27)
        check_int("accum_bits", accum_bits, 2, 64)
        if accum_bits < weight_bits + act_bits:
            raise ValueError(f"accum_bits must be >= weight_bits + act_bits = "
                             f"{weight_bits + act_bits}, not {accum_bits}")
        check_int("queue_depth", queue_depth, 1)
        check_int("entry_depth", entry_depth, 1)
        check_int("n_cols_max", n_cols_max, 1)
        check_int("local_rows", local_rows, 1)
        check_bool("bias", bias)
        if init_bias is not None and not bias:
            raise ValueError("init_bias needs bias=True")
        self._n_pe, self._wb, self._ib, self._ab, self._accb = (
            n_pe, weight_bits, index_bits, act_bits, accum_bits)
        self._queue_depth, self._entry_depth = queue_depth, entry_depth
        self._n_cols_max, self._local_rows, self._bias = n_cols_max, local_rows, bias

        words = ptrs = biases = [None] * n_pe
        if init is not None:
            words, ptrs = self._check_image(init)
        if init_bias is not None:
            init_bias = np.asarray(init_bias, dtype=np.int64)
            if init_bias.ndim != 2 or init_bias.shape[0] != n_pe:
                raise ValueError(f"init_bias must have shape (n_pe={n_pe}, rows), "
                                 f"not {init_bias.shape}")
            biases = list(init_bias)
        self._pe_params = [
            dict(weight_bits=weight_bits, index_bits=index_bits, act_bits=act_bits,
                 accum_bits=accum_bits, queue_depth=queue_depth, entry_depth=entry_depth,
                 n_cols_max=n_cols_max, local_rows=local_rows, bias=bias,
                 init_words=words[p], init_ptr=ptrs[p], init_bias=biases[p])
            for p in range(n_pe)
        ]
        # The PEs are built in elaborate(); check their images now (same checks).
        for p in range(n_pe):
            check_image(f"PE {p} entry image", words[p], depth=entry_depth,
                        depth_name="entry_depth", bits=self.word_bits)
            check_image(f"PE {p} pointer image", ptrs[p], depth=n_cols_max + 1,
                        depth_name="n_cols_max + 1", bits=self.ptr_bits)
            check_image(f"PE {p} bias image", biases[p], depth=local_rows,
                        depth_name="local_rows", bits=accum_bits, signed=True)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "n_cols": In(range(n_cols_max + 1)),
            "n_rows": In(range(local_rows + 1)),
            "act": In(stream.Signature(signed(act_bits))),
            "result": Out(stream.Signature(signed(accum_bits))),
            "load": In(stream.Signature(load_layout(self.pe_bits, self.load_addr_bits,
                                                    self.load_data_bits))),
        })

    def _check_image(self, image):
        for name, want in (("n_pe", self._n_pe), ("index_bits", self._ib),
                           ("weight_bits", self._wb)):
            got = getattr(image, name)
            if got != want:
                raise ValueError(f"init image has {name} = {got}, the SpMV has {want}")
        if image.n_cols > self._n_cols_max:
            raise ValueError(f"init image has {image.n_cols} columns, more than "
                             f"n_cols_max = {self._n_cols_max}")
        if image.local_rows > self._local_rows:
            raise ValueError(f"init image needs {image.local_rows} local rows, more than "
                             f"local_rows = {self._local_rows}")
        longest = max(len(w) for w in image.words)
        if longest > self._entry_depth:
            raise ValueError(f"init image has {longest} entries in a PE, more than "
                             f"entry_depth = {self._entry_depth}")
        return list(image.words), list(np.asarray(image.ptr))

    # Read-only parameters.
    n_pe = property(lambda self: self._n_pe)
    weight_bits = property(lambda self: self._wb)
    index_bits = property(lambda self: self._ib)
    act_bits = property(lambda self: self._ab)
    accum_bits = property(lambda self: self._accb)
    queue_depth = property(lambda self: self._queue_depth)
    entry_depth = property(lambda self: self._entry_depth)
    n_cols_max = property(lambda self: self._n_cols_max)
    local_rows = property(lambda self: self._local_rows)
    bias = property(lambda self: self._bias)

    @property
    def pe_bits(self):
        return max(1, ceil_log2(self._n_pe))

    @property
    def word_bits(self):
        """Entry word width: ``weight_bits + index_bits``."""
        return self._wb + self._ib

    @property
    def ptr_bits(self):
        return bits_for(self._entry_depth)

    @property
    def load_addr_bits(self):
        return max(1, ceil_log2(self._entry_depth), bits_for(self._n_cols_max),
                   ceil_log2(self._local_rows))

    @property
    def load_data_bits(self):
        return max(self.word_bits, self.ptr_bits, self._accb if self._bias else 0)

    def elaborate(self, platform):
        m = Module()
        n = self._n_pe
        self._pes = [PE(**kw) for kw in self._pe_params]
        for p, pe in enumerate(self._pes):
            m.submodules[f"pe{p}"] = pe

        state = Signal(State)
        n_cols = Signal.like(self.n_cols)
        n_rows = Signal.like(self.n_rows)
        col = Signal.like(self.n_cols)
        any_full = Signal()
        all_idle = Signal()
        m.d.comb += [
            any_full.eq(Cat(pe.full for pe in self._pes).any()),
            all_idle.eq(Cat(pe.idle for pe in self._pes).all()),
            self.busy.eq(state != State.IDLE),
        ]

        # Loads: demultiplex by target and PE; only while idle.
        ld = self.load.payload
        m.d.comb += self.load.ready.eq(state == State.IDLE)
        load_now = self.load.valid & self.load.ready
        for p, pe in enumerate(self._pes):
            ports = {LoadTarget.ENTRY: pe.entry_load, LoadTarget.PTR: pe.ptr_load}
            if self._bias:
                ports[LoadTarget.BIAS] = pe.bias_load
            route_load(m, ld, load_now & (ld.pe == p), ports)

        # Broadcaster.
        act = self.act.payload
        nonzero = act != 0
        running = (state == State.RUN) & (col != n_cols)
        push = self.act.valid & running & nonzero & ~any_full
        m.d.comb += self.act.ready.eq(running & (~nonzero | ~any_full))
        for pe in self._pes:
            m.d.comb += [pe.push.eq(push), pe.push_col.eq(col), pe.push_act.eq(act)]
        with m.If(self.act.valid & self.act.ready):
            m.d.sync += col.eq(col + 1)

        # Readout: row ``ro_row`` of every PE is read at once into a shift register.
        ro_row = Signal(range(self._local_rows + 1))
        ro_pending = Signal()
        ro_count = Signal(range(n + 1))
        ro_shift = Signal(n * self._accb)
        ro_issue = Signal()
        m.d.comb += [
            ro_issue.eq((state == State.READOUT) & (ro_row != n_rows) & ~ro_pending &
                        ((ro_count == 0) | ((ro_count == 1) & self.result.ready))),
            self.result.valid.eq(ro_count != 0),
            self.result.payload.eq(ro_shift[:self._accb]),
        ]
        for pe in self._pes:
            m.d.comb += [pe.ro_en.eq(ro_issue), pe.ro_addr.eq(ro_row)]
        m.d.sync += ro_pending.eq(ro_issue)
        with m.If(ro_issue):
            m.d.sync += ro_row.eq(ro_row + 1)
        with m.If(ro_pending):
            m.d.sync += [ro_shift.eq(Cat(pe.ro_data for pe in self._pes)), ro_count.eq(n)]
        with m.Elif(self.result.valid & self.result.ready):
            m.d.sync += [ro_shift.eq(ro_shift >> self._accb), ro_count.eq(ro_count - 1)]

        m.d.sync += self.done.eq(0)
        with m.Switch(state):
            with m.Case(State.IDLE):
                with m.If(self.start):
                    m.d.comb += [pe.clear.eq(1) for pe in self._pes]
                    m.d.sync += [
                        state.eq(State.RUN),
                        col.eq(0),
                        n_cols.eq(self.n_cols),
                        n_rows.eq(self.n_rows),
                    ]
            with m.Case(State.RUN):
                with m.If((col == n_cols) & all_idle):
                    m.d.sync += [state.eq(State.READOUT), self.done.eq(1), ro_row.eq(0)]
            with m.Case(State.READOUT):
                with m.If((ro_row == n_rows) & ~ro_pending & (ro_count == 0)):
                    m.d.sync += state.eq(State.IDLE)
        return m
