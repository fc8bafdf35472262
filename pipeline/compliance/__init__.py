"""Compliance helpers of stage ``license``: SPDX matching, copyright notices, opt-out signals."""
