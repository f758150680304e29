import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile("ci", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture(scope="session")
def review_page(tmp_path_factory):
    """diagrams/index.html, freshly built once for the session (the full matrix, about a
    minute): tests/test_diagrams.py opens it, tests/test_mermaid.py reads its .mmd files."""
    from checks.reports.review import build
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is missing")
    out = Path(os.environ.get("MULTIFD_DIAGRAMS") or tmp_path_factory.mktemp("diagrams"))
    return build(out, log=lambda line: None)
