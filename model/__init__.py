"""The protocol: QEMU multifd synchronization as thread state machines.

One module per thread role (migration, send, load, recv, and monitor for
migrate_cancel), the transports, the global state and the configuration; machine.py
says how a role is declared, protocol.py composes the roles, and variants/ holds the
catalogue of named changes (QEMU versions, hypotheses, historical bugs, P1 and P2).

Layer rule: model/ imports nothing from checks/. It knows QEMU; it does not know how it
is verified.
"""
