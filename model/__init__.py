"""The protocol: QEMU multifd synchronization as thread state machines.

One module per thread role (migration, send, load, recv, and monitor for
migrate_cancel), the transports, the global state, the configuration and the variant
catalogue. Each role is declared as a `transitions` table and compiled once per
configuration (machine.py); system.py composes the roles into the product, and
packed.py gives the explorer that product with each state packed into one int.

Layer rule: model/ imports nothing from checks/. It knows QEMU; it does not know how it
is verified.
"""
