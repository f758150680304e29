"""Real QEMU in the loop: fetch builds, run multifd migrations, capture traces.

This package runs real QEMU (TCG, 127.0.0.1 and unix sockets only) and writes
trace logs, and judges what it captured with `checks/` (the trace parser, the replay,
and the match of a hang's trace to a model path, which runs the model).  Every QEMU it
starts is ended in a `finally` (QMP quit, then SIGKILL by PID).
"""
