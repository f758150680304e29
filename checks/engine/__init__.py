"""The model checker. It knows nothing of multifd: it walks any model that offers
initial_states(), successors() and is_proper_end() (explorer.py), packs states into ints
(packed.py), caches each step by what it read (stepcache.py, tracking.py), and derives
transactions from what each step read and wrote (movers.py).

Layer rule: nothing here imports model/ or the rest of checks/.
"""
