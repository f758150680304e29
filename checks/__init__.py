"""What is verified and how: the explorer, the properties, counterexamples, the matrix
and the command line.

Layer rule: explorer.py knows nothing of multifd (it walks any model that offers
initial_states(), successors() and is_proper_end()); the other modules bind it to the
model in model/.
"""
