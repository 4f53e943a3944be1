"""The software half of ESE, pure numpy (never imports Amaranth)."""
