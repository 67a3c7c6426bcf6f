"""Loyalist: an open-source customer loyalty and retention platform."""

__version__ = "0.1.0"
