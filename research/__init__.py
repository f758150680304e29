"""Probes that are not part of the tool; their findings are in docs/scale.md."""
