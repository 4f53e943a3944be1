"""The hardware half of ESE: Amaranth 0.5 components."""
