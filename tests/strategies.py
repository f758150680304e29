"""Hypothesis strategies, in one place."""

from hypothesis import strategies as st

from model.config import FAULTS, FLUSH_MODES, Config
from model.variants import CATALOGUE


@st.composite
def small_configs(draw, max_channels=2, max_pages=2, max_rounds=2):
    """Socket configurations small enough to explore in well under a second."""
    live = draw(st.booleans())
    rounds = draw(st.integers(1, max_rounds)) if live else 1
    return Config(transport=draw(st.sampled_from(("socket", "file"))),
                  channels=draw(st.integers(1, max_channels)),
                  pages=draw(st.integers(1, max_pages)), rounds=rounds,
                  flush=draw(st.sampled_from(FLUSH_MODES)), live=live)


# The catalogue's variants on the declared transactions (the ones with fields or
# properties of their own run derived, and are checked by test_variant_api and the matrix).
DECLARED = tuple(v for v in CATALOGUE if not v.own_vocabulary)
variants = st.sampled_from(DECLARED)
# The fault layers the declared transactions were argued for (network-stall runs derived).
DECLARED_FAULTS = tuple(f for f in FAULTS if f != "network-stall")


@st.composite
def multi_channel_configs(draw):
    """Two or three channels, small enough for a run with and one without symmetry."""
    channels = draw(st.integers(2, 3))
    live = draw(st.booleans()) if channels == 2 else False
    return Config(transport=draw(st.sampled_from(("socket", "file"))), channels=channels,
                  pages=draw(st.integers(1, 2 if channels == 2 and not live else 1)),
                  rounds=draw(st.integers(1, 2)) if live else 1,
                  flush=draw(st.sampled_from(FLUSH_MODES)), live=live)


# Runs at three channels, where a thread reads other channels' entries: the reductions
# that key on what a step reads (the step cache, packed states) are compared on these.
THREE_CHANNEL_CASES = [
    ("seed", Config(channels=3, pages=1, rounds=2)),
    ("p2-fix-exit-kicks", Config(channels=3, pages=1, rounds=1, live=False,
                                 faults=("send-write-error",))),
    ("seed", Config(transport="file", channels=3, pages=2, rounds=2,
                    faults=("recv-read-error",))),
]


# -- random table edits (tests/test_derived.py) -------------------------------------------
# Guards and effects a user's patch might add: each reads or writes what other threads
# touch, so an added state with one of them is where a thread can block or be seen.

def _peer_drained(cfg, s, t, c):
    return not s.sockets[t]


def _socket_has_room(cfg, s, t, c):
    return len(s.sockets[t]) < 1


def _none_exiting(cfg, s, t, c):
    return not s.send_exiting and not s.recv_exiting


def _ready_token(cfg, s, t, c):
    return s.channels_ready > 0


def _shared_sync_posted(cfg, s, t, c):
    return s.sem_sync > 0


def _vm_not_running(cfg, s, t, c):
    return not s.vm_running


def _no_job_pending(cfg, s, t, c):
    return not any(s.pending_job)


def _post_ready(cfg, s, t, c):
    return s.replace(channels_ready=s.channels_ready + 1)


def _post_shared_sync(cfg, s, t, c):
    return s.replace(sem_sync=s.sem_sync + 1)


def _set_send_exiting(cfg, s, t, c):
    return s.replace(send_exiting=1)


def _touch_if_joined(cfg, s, t, c):
    """An effect that branches on what another thread writes, with a visible ghost."""
    return s.replace(destroyed_touched=1) if any(s.send_joined) else s


def _note_if_vm_running(cfg, s, t, c):
    return s.replace(job_read_after_handover=1) if s.vm_running else s


EDIT_GUARDS = {f.__name__.lstrip("_"): f for f in (
    _peer_drained, _socket_has_room, _none_exiting, _ready_token, _shared_sync_posted,
    _vm_not_running, _no_job_pending)}
EDIT_EFFECTS = {f.__name__.lstrip("_"): f for f in (_post_ready, _post_shared_sync,
                                                   _set_send_exiting, _touch_if_joined,
                                                   _note_if_vm_running)}


@st.composite
def edited_variants(draw, max_edits=3):
    """The seed with one to three random edits: a row sent through a new state where
    the thread blocks on a guard or does one more effect, a guard added, a row dropped
    or sent elsewhere."""
    from model.variants import ROLES, Variant
    rows = {name: [dict(r) for r in role.rows] for name, role in ROLES.items()
            if name != "monitor"}
    edits, functions, states = [], {}, {}
    for k in range(draw(st.integers(1, max_edits))):
        role = draw(st.sampled_from(sorted(rows)))
        r = draw(st.sampled_from(rows[role]))
        kind = draw(st.sampled_from(("block", "detour", "guard", "drop", "redirect")))
        edits += _edit(draw, k, role, r, kind, rows, functions.setdefault(role, {}), states)
    return Variant(name="edited", stands_for="hypothesis: a random edit of the seed",
                   description="random", edits=tuple(edits), functions=functions,
                   states=states)


def _edit(draw, k, role, r, kind, rows, functions, states) -> list:
    from model.variants import ROLES, Add, Change, Drop, row
    where = (role, r["trigger"], r["source"], r["dest"])
    if kind in ("block", "detour"):
        x = f"X{k}"
        states[role] = states.get(role, ()) + (x,)
        name = draw(st.sampled_from(sorted(EDIT_GUARDS if kind == "block" else EDIT_EFFECTS)))
        functions[name] = (EDIT_GUARDS if kind == "block" else EDIT_EFFECTS)[name]
        added = row(f"go{k}", x, r["dest"], qemu="added", **(
            {"when": [name]} if kind == "block" else {"do": [name]}))
        rows[role] = [dict(q, dest=x) if q is r else q for q in rows[role]] + [added]
        return [Change(*where, to={"dest": x}), Add(role, added)]
    if kind == "guard":
        name = draw(st.sampled_from(sorted(EDIT_GUARDS)))
        functions[name] = EDIT_GUARDS[name]
        key = draw(st.sampled_from(("when", "unless")))
        old = r["conditions"] if key == "when" else r["unless"]
        return [Change(*where, to={key: list(old) + [name]})]
    if kind == "drop":
        rows[role] = [q for q in rows[role] if q is not r]
        return [Drop(*where)]
    dest = draw(st.sampled_from(ROLES[role].states))
    rows[role] = [dict(q, dest=dest) if q is r else q for q in rows[role]]
    return [Change(*where, to={"dest": dest})]


# Configurations small enough for the fine-grained model of an edited table.
EDIT_CONFIGS = (
    Config(channels=1, pages=1, rounds=1, live=False),
    Config(channels=1, pages=1, rounds=1, live=False, faults=("send-write-error",)),
    Config(channels=1, pages=1, rounds=1, live=False, faults=("recv-read-error",)),
    Config(transport="file", channels=2, pages=2, rounds=1, live=False),
    Config(transport="file", channels=2, pages=2, rounds=1, live=False,
           faults=("recv-read-error",)),
)
