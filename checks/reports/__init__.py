"""What a reviewer reads: the story of a counterexample, its sequence chart, the wait-for
graph of a hang, the thread diagrams and the review page."""
