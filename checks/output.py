"""Output files: a directory checked before the work starts, names that stay inside it,
and every file written whole or not at all (a temporary name, then a rename).

Temporaries live in one hidden directory of the run inside --out, `.partial-PID`
(worker processes, forked after `out_dir`, use the same one), so that the run can
sweep away, on any way out, what a killed worker was half-way through writing."""

import os
import re
import shutil
import subprocess

__all__ = ["OutputError", "out_dir", "safe_stem", "write_atomic", "render_svg",
           "discard_partial"]

_STAGE = []         # the run's directory of temporaries, once out_dir() has named one


class OutputError(Exception):
    """An output directory or file that cannot be written: one line."""


def out_dir(path: str) -> str:
    """`path`, created if need be, once it is known to be a writable directory."""
    if not path or not path.strip():
        raise OutputError("--out needs a directory name")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"--out {path}: not a directory this user can write to")
    _STAGE[:] = [os.path.join(path, f".partial-{os.getpid()}")]
    return path


def discard_partial() -> None:
    """Remove the run's temporaries: a file half-written when the run was stopped."""
    if _STAGE:
        shutil.rmtree(_STAGE.pop(), ignore_errors=True)


def _temporary(path: str) -> str:
    """Where `path` is written before it is renamed: in the run's hidden directory when
    there is one (it is inside --out, so on the same file system), else beside it."""
    if not _STAGE:
        return f"{path}.tmp{os.getpid()}"
    os.makedirs(_STAGE[0], exist_ok=True)
    return os.path.join(_STAGE[0], f"{os.path.basename(path)}.{os.getpid()}")


def safe_stem(name: str) -> str:
    """A file name made of `name`: letters, digits, '.', '_', '+' and '-' kept, anything
    else (a '/' included) '_', and no leading dot, so it stays inside its directory."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".") or "_"


def write_atomic(path, text: str) -> None:
    """Write `text` to `path` whole: readers see the old file or the new one, never part."""
    path = os.fspath(path)
    temporary = _temporary(path)
    try:
        with open(temporary, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise


def render_svg(dot_path, svg_path) -> None:
    """graphviz's `dot` renders a DOT file to SVG, whole or not at all."""
    svg_path = os.fspath(svg_path)
    temporary = _temporary(svg_path)
    try:
        subprocess.run(["dot", "-Tsvg", "-o", temporary, os.fspath(dot_path)], check=True,
                       capture_output=True)
        os.replace(temporary, svg_path)
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
