"""What a reviewer reads: the story of a counterexample, its sequence chart (SVG and
Mermaid), the wait-for graph of a hang, the explored graph in networkx, the thread
diagrams and the review page."""
