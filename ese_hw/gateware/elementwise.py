"""Element-wise LSTMP cell update for one PE (docs/contract.md section 3, "Element-wise").

Per cell, with ``A = fw_g + fa`` and ``fg = act_bits - 1``::

    pre_i = acc_i + rshift_round(p_i * c_prev, fp + fc - A)
    pre_f = acc_f + rshift_round(p_f * c_prev, fp + fc - A)
    i = SIG[idx(pre_i, A)]; f = SIG[idx(pre_f, A)]; g = TANH[idx(acc_c, A)]
    c = sat(rshift_round(f * c_prev, fg) + rshift_round(i * g, 2*fg - fc), act_bits)
    pre_o = acc_o + rshift_round(p_o * c, fp + fc - A)
    o = SIG[idx(pre_o, A)]
    m = sat(rshift_round(o * TANH[idx(c, fc)], fg), act_bits)

exactly as :meth:`ese_hw.model.golden.GoldenModel.elementwise` computes it.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..model.timing import DEFAULT_TIMING, Timing, check_timing
from ._checks import CheckedComponent, check_int
from .activation import check_lut_params, lut_index_value, lut_memory
from .fixed import rshift_round_value, sat_value

__all__ = ["ElementwiseUnit", "elementwise_in_layout", "elementwise_out_layout"]


def elementwise_in_layout(*, act_bits, weight_bits, accum_bits):
    """One cell's inputs: the four gate accumulators (bias included), ``c_{t-1}``, peepholes."""
    return data.StructLayout({
        "acc_i": signed(accum_bits),
        "acc_f": signed(accum_bits),
        "acc_c": signed(accum_bits),
        "acc_o": signed(accum_bits),
        "c_prev": signed(act_bits),
        "p_i": signed(weight_bits),
        "p_f": signed(weight_bits),
        "p_o": signed(weight_bits),
    })


def elementwise_out_layout(*, act_bits):
    """One cell's results: ``c_t`` (Q ``fc``) and ``m_t`` (Q ``act_bits - 1``)."""
    return data.StructLayout({"c": signed(act_bits), "m": signed(act_bits)})


class ElementwiseUnit(CheckedComponent):
    """The gate maths, cell update and ``m_t`` of one LSTMP cell per cycle.

    Fixed point (docs/contract.md section 3): accumulators ``signed(accum_bits)``
    in Q ``fw_g + fa`` (bias already added); ``c_prev`` and ``c`` are
    ``signed(act_bits)`` in Q ``fc``; peepholes ``signed(weight_bits)`` in Q ``fp``;
    gates, ``tanh(c)`` and ``m`` are ``signed(act_bits)`` in Q ``act_bits - 1``.
    ``pre_*`` are kept at full width (never wrapped). Any Q format may make a
    shift amount negative; negative rounding shifts are exact left shifts.

    Pipeline (``Timing.ew_core_latency`` = 15 register stages, then
    ``timing.ew_output_stages`` plain output registers; :attr:`latency` is their sum;
    ``o`` depends on the new ``c``, so the peephole of the output gate waits for the
    cell update):

    ====  ================================================================
     1    input registers (multiplier inputs of ``p_i*c_prev``, ``p_f*c_prev``)
     2    products (DSP M register)
     3    ``pre_i``, ``pre_f`` (rounded product + accumulator, full width)
     4    table indices of ``pre_i``, ``pre_f``, ``acc_c``
     5    ROM reads ``i``, ``f``, ``g`` (synchronous block-RAM read)
     6    ``i``, ``f``, ``g`` registered (multiplier inputs / BRAM output reg)
     7    products ``f*c_prev``, ``i*g``
     8    ``c`` (rounded sum, saturated)
     9    product ``p_o*c``; index of ``tanh(c)``
    10    ``pre_o``
    11    index of ``pre_o``
    12    ROM reads ``o``, ``tanh(c)``
    13    ``o``, ``tanh(c)`` registered (multiplier inputs)
    14    product ``o*tanh(c)``
    15    ``m`` (rounded, saturated); with ``c`` this is the output
    ====  ================================================================

    Every multiplier has registered inputs and a registered product, so each
    maps to one DSP48E2 (A/B and M registers) at 200 MHz.

    Lookups: the five lookups use :func:`~ese_hw.gateware.activation.lut_index_value`
    and ROMs from :func:`~ese_hw.gateware.activation.lut_memory` (the same code
    as :class:`~ese_hw.gateware.activation.LookupUnit`) directly, with read
    ports enabled by the pipeline's ``advance``, rather than five stream
    ``LookupUnit`` instances with their own handshakes: the whole unit is one
    pipeline, so one enable is simpler and cheaper than nested handshakes. The
    ROMs are grouped two read ports per ROM (a dual-port block RAM): sigmoid for
    ``i`` and ``f``, sigmoid for ``o``, tanh for ``g`` and ``tanh(c)``.

    Stalls: the pipeline stalls as a whole. ``advance = ~o.valid | o.ready``
    enables every register and ROM read port; ``i.ready = advance``. ``o.valid``
    never depends on ``o.ready``, and payload and valid hold until the transfer.
    A bubble is not squeezed out during a stall; with ``o.ready`` high the
    throughput is one cell per cycle.

    Parameters
    ----------
    act_bits, weight_bits, accum_bits : int
        Widths of activations/cell state/gates, peephole weights, accumulators.
    fw_g, fa, fc, fp : int
        Q formats (fractional bits) of gate weights, activations, cell state,
        peepholes (``fg = act_bits - 1`` is fixed).
    lut_bits, lut_range_log2 : int
        Sigmoid/tanh table size (log2) and half range (log2).
    timing : Timing
        Its ``ew_output_stages`` extra output registers.

    Members
    -------
    i : In(stream.Signature(elementwise_in_layout(...)))
    o : Out(stream.Signature(elementwise_out_layout(...)))
    """

    @classmethod
    def check_parameters(cls, *, act_bits, weight_bits, accum_bits, fw_g, fa, fc, fp,
                         lut_bits, lut_range_log2, timing):
        check_int("act_bits", act_bits)
        check_int("weight_bits", weight_bits)
        check_int("accum_bits", accum_bits)
        for name, v in (("fw_g", fw_g), ("fa", fa), ("fc", fc), ("fp", fp)):
            check_int(name, v, -256, 256)
        check_lut_params(lut_bits, lut_range_log2)
        check_timing(timing)

    def __init__(self, *, act_bits=16, weight_bits=12, accum_bits=48, fw_g, fa, fc, fp,
                 lut_bits=12, lut_range_log2=3, timing=DEFAULT_TIMING):
        self._timing = timing
        self._ab, self._wb, self._accb = act_bits, weight_bits, accum_bits
        self._q = {"fw_g": fw_g, "fa": fa, "fc": fc, "fp": fp, "fg": act_bits - 1}
        self._lut_bits, self._lut_range_log2 = lut_bits, lut_range_log2
        super().__init__({
            "i": In(stream.Signature(self.in_layout)),
            "o": Out(stream.Signature(self.out_layout)),
        })

    @property
    def act_bits(self):
        return self._ab

    @property
    def weight_bits(self):
        return self._wb

    @property
    def accum_bits(self):
        return self._accb

    @property
    def fw_g(self):
        return self._q["fw_g"]

    @property
    def fa(self):
        return self._q["fa"]

    @property
    def fc(self):
        return self._q["fc"]

    @property
    def fp(self):
        return self._q["fp"]

    @property
    def fg(self):
        return self._q["fg"]

    @property
    def qformats(self):
        """The Q formats as a dict (``fw_g fa fc fp fg``)."""
        return dict(self._q)

    @property
    def lut_bits(self):
        return self._lut_bits

    @property
    def lut_range_log2(self):
        return self._lut_range_log2

    @property
    def in_layout(self):
        return elementwise_in_layout(act_bits=self._ab, weight_bits=self._wb,
                                     accum_bits=self._accb)

    @property
    def out_layout(self):
        return elementwise_out_layout(act_bits=self._ab)

    @property
    def latency(self):
        """Cycles from an input transfer to its output being valid (without stalls)."""
        return self._timing.ew_latency

    @property
    def _lut_params(self):
        return dict(lut_bits=self._lut_bits, lut_range_log2=self._lut_range_log2)

    def elaborate(self, platform):
        m = Module()
        ab, lut = self._ab, self._lut_params
        advance = Signal()
        valid = [Signal(name=f"valid{k}") for k in range(1, self.latency + 1)]
        m.d.comb += [
            advance.eq(~valid[-1] | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(valid[-1]),
        ]
        with m.If(advance):
            m.d.sync += valid[0].eq(self.i.valid)
            m.d.sync += [valid[k].eq(valid[k - 1]) for k in range(1, len(valid))]

        pipe = _Pipeline(m, advance)
        m.submodules.sig_if = sig_if = lut_memory("sigmoid", act_bits=ab, **lut)
        m.submodules.sig_o = sig_o = lut_memory("sigmoid", act_bits=ab, **lut)
        m.submodules.tanh = tanh = lut_memory("tanh", act_bits=ab, **lut)
        c8, acc_o8, p_o8 = self._cell_update(pipe, sig_if, tanh)
        c15, m15 = self._output_gate(pipe, c8, acc_o8, p_o8, sig_o, tanh)
        if pipe.stages != Timing.ew_core_latency:
            # The cycle model and the sequencer count Timing's stages, not these.
            raise RuntimeError(f"the element-wise pipeline has {pipe.stages} stages, "
                               f"Timing.ew_core_latency says {Timing.ew_core_latency}")
        # Output registers (timing.ew_output_stages), stalled with the rest.
        stages = self._timing.ew_output_stages
        m.d.comb += [self.o.payload.c.eq(pipe.delay("c_out", c15, stages)),
                     self.o.payload.m.eq(pipe.delay("m_out", m15, stages))]
        return m

    def _cell_update(self, pipe, sig_if, tanh):
        """Stages 1-8: the input and forget gates, ``g``, and the new cell state ``c``.
        Returns ``c`` and, delayed alongside, ``acc_o`` and ``p_o``."""
        reg, at, lookup = pipe.reg, pipe.at, pipe.lookup
        ab, fg, fc, lut = self._ab, self.fg, self.fc, self._lut_params
        acc_frac = self.fw_g + self.fa              # Q of the gate accumulators
        peep_shift = self.fp + fc - acc_frac        # peephole product (Q fp + fc) -> Q acc_frac
        x = self.i.payload
        pipe.next_stage()
        # 1: input registers.
        s1 = {name: reg(f"{name}_1", x[name]) for name in
              ("acc_i", "acc_f", "acc_c", "acc_o", "c_prev", "p_i", "p_f", "p_o")}
        pipe.next_stage()
        # 2: peephole products on c_{t-1}.
        prod_i = reg("pc_i_2", s1["p_i"] * s1["c_prev"])
        prod_f = reg("pc_f_2", s1["p_f"] * s1["c_prev"])
        acc_i2, acc_f2 = reg("acc_i_2", s1["acc_i"]), reg("acc_f_2", s1["acc_f"])
        acc_c2, acc_o2 = reg("acc_c_2", s1["acc_c"]), reg("acc_o_2", s1["acc_o"])
        c_prev2, p_o2 = reg("c_prev_2", s1["c_prev"]), reg("p_o_2", s1["p_o"])
        pipe.next_stage()
        # 3: pre-activations, full width.
        pre_i = reg("pre_i_3", acc_i2 + rshift_round_value(prod_i, peep_shift))
        pre_f = reg("pre_f_3", acc_f2 + rshift_round_value(prod_f, peep_shift))
        acc_c3 = reg("acc_c_3", acc_c2)
        pipe.next_stage()
        # 4: table indices.
        idx_i = reg("idx_i_4", lut_index_value(pre_i, acc_frac, **lut))
        idx_f = reg("idx_f_4", lut_index_value(pre_f, acc_frac, **lut))
        idx_g = reg("idx_g_4", lut_index_value(acc_c3, acc_frac, **lut))
        pipe.next_stage()
        # 5: ROM reads (the read port's data register is this stage).
        gate_i, gate_f, gate_g = lookup(sig_if, idx_i), lookup(sig_if, idx_f), lookup(tanh, idx_g)
        pipe.next_stage()
        # 6: gates registered as multiplier inputs.
        i6, f6, g6 = reg("i_6", gate_i), reg("f_6", gate_f), reg("g_6", gate_g)
        c_prev6 = at("c_prev", c_prev2)
        acc_o6 = at("acc_o", acc_o2)
        p_o6 = at("p_o", p_o2)
        pipe.next_stage()
        # 7: cell-update products.
        fc_prod = reg("fc_7", f6 * c_prev6)
        ig_prod = reg("ig_7", i6 * g6)
        acc_o7, p_o7 = reg("acc_o_7", acc_o6), reg("p_o_7", p_o6)
        pipe.next_stage()
        # 8: new cell state.
        c8 = reg("c_8", sat_value(rshift_round_value(fc_prod, fg)
                                  + rshift_round_value(ig_prod, 2 * fg - fc), ab),
                 shape=signed(ab))
        return c8, reg("acc_o_8", acc_o7), reg("p_o_8", p_o7)

    def _output_gate(self, pipe, c8, acc_o8, p_o8, sig_o, tanh):
        """Stages 9-15: the output gate (its peephole sees the new ``c``) and ``m``.
        Returns ``c`` and ``m`` of stage 15."""
        reg, at, lookup = pipe.reg, pipe.at, pipe.lookup
        ab, fg, fc, lut = self._ab, self.fg, self.fc, self._lut_params
        acc_frac = self.fw_g + self.fa              # Q of the gate accumulators
        peep_shift = self.fp + fc - acc_frac        # peephole product (Q fp + fc) -> Q acc_frac
        pipe.next_stage()
        # 9: output-gate peephole product on c_t; tanh(c_t) index.
        prod_o = reg("pc_o_9", p_o8 * c8)
        idx_tc9 = reg("idx_tc_9", lut_index_value(c8, fc, **lut))
        acc_o9 = reg("acc_o_9", acc_o8)
        pipe.next_stage()
        # 10: pre_o, full width.
        pre_o = reg("pre_o_10", acc_o9 + rshift_round_value(prod_o, peep_shift))
        idx_tc10 = reg("idx_tc_10", idx_tc9)
        pipe.next_stage()
        # 11: output-gate index.
        idx_o = reg("idx_o_11", lut_index_value(pre_o, acc_frac, **lut))
        idx_tc11 = reg("idx_tc_11", idx_tc10)
        pipe.next_stage()
        # 12: ROM reads.
        gate_o, tanh_c = lookup(sig_o, idx_o), lookup(tanh, idx_tc11)
        pipe.next_stage()
        # 13: multiplier inputs.
        o13, tc13 = reg("o_13", gate_o), reg("tc_13", tanh_c)
        pipe.next_stage()
        # 14: product.
        om_prod = reg("om_14", o13 * tc13)
        pipe.next_stage()
        # 15: m_t.
        m15 = reg("m_15", sat_value(rshift_round_value(om_prod, fg), ab), shape=signed(ab))
        return at("c", c8), m15


class _Pipeline:
    """Registers and ROM reads of a pipeline that advances as a whole on ``advance``,
    built stage after stage (:meth:`next_stage`): every register and ROM read belongs
    to the stage it is made in, so :meth:`at` can bring a value up to the current stage
    and :attr:`stages` counts the stages built (checked against ``Timing``)."""

    def __init__(self, m, advance):
        self._m, self._advance = m, advance
        self.stages = 0
        self._stage_of = {}                 # id(register) -> (register, its stage)

    def next_stage(self):
        """Start the next stage (the first is stage 1)."""
        self.stages += 1

    def _tag(self, sig):
        self._stage_of[id(sig)] = (sig, self.stages)
        return sig

    def reg(self, name, expr, shape=None):
        """A register of the current stage loaded with ``expr`` whenever the pipeline
        advances."""
        sig = Signal(shape if shape is not None else expr.shape(), name=name)
        with self._m.If(self._advance):
            self._m.d.sync += sig.eq(expr)
        return self._tag(sig)

    def delay(self, name, sig, stages):
        """``sig`` through ``stages`` registers."""
        for k in range(stages):
            sig = self.reg(f"{name}_d{k + 1}", sig)
        return sig

    def at(self, name, sig):
        """Register ``sig`` (made in an earlier stage) up to the current stage."""
        made, stage = self._stage_of[id(sig)]
        assert made is sig
        return self._tag(self.delay(name, sig, self.stages - stage))

    def lookup(self, rom, index):
        """Synchronous ROM read of ``index`` (a register of the stage before): its data
        is the current stage's."""
        port = rom.read_port(domain="sync", transparent_for=())
        self._m.d.comb += [port.addr.eq(index), port.en.eq(self._advance)]
        return self._tag(port.data)
