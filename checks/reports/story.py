"""A step of a counterexample told as the variables it changed, in QEMU's terms: a
thread's pc by its state's name, a packet by what it carries, a FIFO as what was written
or read."""

from model import migration
from model.state import NO_JOB, NO_PACKET
from model.transports import RECORD_NAMES, packet_name

__all__ = ["changes"]


def changes(system, before, after) -> list:
    """The variables a step changed, as `name: old -> new` lines."""
    lines, pcs = [], _pc_roles(system)
    for name, old, new in zip(system.state._fields, before, after):
        if old != new:
            lines.extend(_describe(system, pcs, name, old, new))
    return lines


_FIFOS = {"stream": lambda r: RECORD_NAMES.get(r, hex(r)), "sockets": packet_name}
_PACKETS = {"send_job": NO_JOB, "recv_packet": NO_PACKET}
_PER_PAGE = ("ram", "bmap", "file_data")


def _pc_roles(system) -> dict:
    """The State field holding each role's pc -> the role (the monitor's too)."""
    return {role.pc_field: name for name, role in system.roles.items()}


def _value(system, pcs, name, value):
    role = pcs.get(name)
    if role is not None:                  # a thread's pc, by its state's name
        return system.state_name(role, value)
    if name in _PACKETS:
        return "-" if value == _PACKETS[name] else packet_name(value)
    if name == "mig_caller":
        return migration.CALLERS[value]
    if name in ("ram", "file_data"):
        return f"r{value}"
    return str(value)


def _describe_fifo(name, old, new, show):
    if new[:len(old)] == old and len(new) > len(old):
        return [f"{name} += {', '.join(show(x) for x in new[len(old):])}"]
    if old[len(old) - len(new):] == new and len(old) > len(new):
        return [f"{name} -= {', '.join(show(x) for x in old[:len(old) - len(new)])} (read)"]
    return [f"{name}: [{', '.join(map(show, old))}] -> [{', '.join(map(show, new))}]"]


def _describe(system, pcs, name, old, new):
    """`name: old -> new` lines; per index for per-channel and per-page tuples, and as
    `+= written` / `-= read` for the FIFOs (the main stream and each socket)."""
    if name == "stream":
        return _describe_fifo(name, old, new, _FIFOS[name])
    if not isinstance(old, tuple):
        shown = [_value(system, pcs, name, v) for v in (old, new)]
        return [f"{name}: {shown[0]} -> {shown[1]}"]
    lines = []
    for i, (o, n) in enumerate(zip(old, new)):
        if o == n:
            continue
        label = f"{name}[p{i}]" if name in _PER_PAGE else f"{name}[{i}]"
        if name == "sockets":
            lines.extend(_describe_fifo(label, o, n, packet_name))
        else:
            shown = [_value(system, pcs, name, v) for v in (o, n)]
            lines.append(f"{label}: {shown[0]} -> {shown[1]}")
    return lines
