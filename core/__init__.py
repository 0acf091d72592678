"""Foundations every app shares: money as integer fen, and refusals that say where and what."""
