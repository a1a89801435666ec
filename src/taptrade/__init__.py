"""Tap Trading: a live BTC price grid where one tap places a bet on a price band and time window."""

__version__ = "0.1.0"
