"""Benchmarks (not tests): each runs against a scratch database and returns figures."""
