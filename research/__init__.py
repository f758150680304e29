"""Probes that are not part of the tool (findings in docs/scale.md), and reports.sh, which
writes every report of one checkout so that two can be compared byte for byte."""
