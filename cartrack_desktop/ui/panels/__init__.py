"""Dock panels of the dispatcher window."""
