"""Real QEMU in the loop: fetch builds, run multifd migrations, capture traces.

This package runs real QEMU (TCG, 127.0.0.1 and unix sockets only) and writes
trace logs; it imports nothing from `model/` and only `checks.traces.tracelog` /
`checks.traces.replay` from `checks/` to judge what it captured.  Every QEMU it
starts is ended in a `finally` (QMP quit, then SIGKILL by PID).
"""
