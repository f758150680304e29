"""What is verified and how.

- engine/: the model checker; it knows nothing of multifd (it walks any protocol that
  offers threads with compiled tables, a state type, initial states and a proper end);
- properties.py: the invariants, each a named predicate quoting QEMU;
- system.py and verify.py: the protocol of model/ bound to the engine, one run;
- reports/: what a reviewer reads; traces/: real QEMU logs against the model;
- matrix.py and cli.py: the matrix and the command line; bench.py: `make bench`.

Layer rule: engine/ imports nothing from model/ or the rest of checks/.
"""
