"""Simulation-based calibration: the runner, the independent prior simulator and
its results."""
