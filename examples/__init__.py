"""Runnable examples of relying parties using ``client_sdk``."""
