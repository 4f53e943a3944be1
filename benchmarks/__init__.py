"""Measured figures, written as JSON; never asserted on time (run with `make bench`)."""
