"""Real QEMU trace logs: the parser (tracelog.py), the replay of a log pair against the
protocol's skeleton (replay.py), and matching a log to a model path (match.py)."""
