"""Yosys: resource estimates (``synth_xilinx``) and formal proofs (SymbiYosys)."""
