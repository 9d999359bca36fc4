"""Heuristic and learned agents; they use the env's public API only."""
