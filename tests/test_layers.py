"""The house's rules, checked: the protocol knows nothing of how it is checked, the
engine knows nothing of multifd, and a role's table names only its own functions."""

import ast
import pathlib

import pytest

from model.variants import VariantError, load_variant_file

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(path: pathlib.Path) -> set:
    """The absolute modules a file imports (relative ones resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.add(".".join(p for p in (base, node.module or "") if p))
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "model").rglob("*.py")), ids=str)
def test_the_protocol_imports_nothing_of_the_checker(path):
    assert not {m for m in _imports(path) if m.split(".")[0] == "checks"}


@pytest.mark.parametrize("path", sorted((ROOT / "checks" / "engine").glob("*.py")), ids=str)
def test_the_engine_imports_nothing_of_multifd(path):
    outside = {m for m in _imports(path) if m.split(".")[0] in ("model", "checks")
               and not m.startswith("checks.engine")}
    assert not outside
    assert "multifd" not in path.read_text().lower().replace("knows nothing of multifd", "")


def _file(tmp_path, body: str) -> str:
    path = tmp_path / "variant.py"
    path.write_text("from model.variants import Change, Variant\n" + body)
    return str(path)


def test_a_row_may_not_name_an_imported_helper(tmp_path):
    """`put` is imported by send.py, not one of its effects: refused, in one line."""
    path = _file(tmp_path, 'V = Variant(name="v", stands_for="hypothesis: t", description="d",'
                 ' edits=(Change("send", "clear_pending_job", "JOB_SENT", to={"do": ["put"]}),))\n')
    with pytest.raises(VariantError, match="no guard or effect named 'put'"):
        load_variant_file(path)


def test_a_function_must_take_the_four_arguments(tmp_path):
    path = _file(tmp_path, 'def two(cfg, s):\n    return s\n'
                 'V = Variant(name="v", stands_for="hypothesis: t", description="d",'
                 ' edits=(Change("send", "clear_pending_job", "JOB_SENT", to={"do": ["two"]}),),'
                 ' functions={"send": {"two": two}})\n')
    with pytest.raises(VariantError, match=r"two must take \(cfg, s, t, c\)"):
        load_variant_file(path)

