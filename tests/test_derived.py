"""Derived transactions (checks/engine/movers.py, checks/verify.py): an edited table is judged as
the fine-grained model judges it, where the roles' declared waits may not be."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checks.verify import transactions_for, verify
from model.config import Config
from model.variants import P1_P2_FIX, Add, Change, Variant, get_variant, row

from strategies import EDIT_CONFIGS, edited_variants

FINE_BOUND = 60_000       # an edit whose fine-grained model is larger is not compared


def _judged(config, variant, transactions):
    _, result = verify(config, variant, transactions=transactions, max_states=FINE_BOUND * 4)
    return result.verdict, sorted(result.violations), result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(variant=edited_variants(), config=st.sampled_from(EDIT_CONFIGS))
def test_an_edited_table_is_judged_as_the_fine_grained_model_judges_it(variant, config):
    """Random edits (blocking states, added effects, guards, dropped and moved rows):
    the default run gives the fine-grained model's verdict and broken properties."""
    try:
        _, fine = verify(config, variant, transactions=False, max_states=FINE_BOUND)
    except (ValueError, LookupError, TypeError, ArithmeticError):
        assume(False)        # an edit whose functions fail where it sends them
    assume(fine.bound is None)
    verdict, broken, result = _judged(config, variant, None)
    assert result.transactions == "derived"
    assert (verdict, broken) == (fine.verdict, sorted(fine.violations))


def test_a_cycle_with_no_wait_ends_its_transaction():
    """An edit that sends the load thread from cleanup back through vm_start() to
    cleanup, with no wait on the way (found by the sweep above): the derived transaction
    ends where the thread's state repeats, as a spin does, and the run gives the
    fine-grained verdict (it was an internal error: no wait reached)."""
    from strategies import _shared_sync_posted, _touch_if_joined
    variant = Variant(
        name="edited", stands_for="hypothesis: a cycle with no wait", description="d",
        edits=(Change("load", "open_file", "START", to={"unless": ["shared_sync_posted"]}),
               Change("load", "return_at_once", "RECV_SYNC", to={"dest": "X1"}),
               Add("load", row("go1", "X1", "READ_RECORD", do=["touch_if_joined"],
                               qemu="added")),
               Change("load", "free_recv_state", "CLEANUP", to={"dest": "VM_START"})),
        functions={"load": {"shared_sync_posted": _shared_sync_posted,
                            "touch_if_joined": _touch_if_joined}},
        states={"load": ("X1",)})
    config = Config(transport="file", pages=2, rounds=1, live=False, zero_pages=((1, 1),),
                    faults=("recv-read-error",))
    _, fine = verify(config, variant, transactions=False)
    verdict, broken, result = _judged(config, variant, None)
    assert result.transactions == "derived"
    assert (verdict, broken) == (fine.verdict, sorted(fine.violations))


def _alive(cfg, s, t, c):
    return not s.send_exiting


# p1-p2-fix, whose page write blocks once the migration fails (077fbb5942's shape): the
# roles' declared waits never show the thread between its exiting check and the write.
BLOCKED_WRITE = Variant(
    name="blocked-write", stands_for="hypothesis: a write that blocks once exiting is set",
    description="after its exiting check, the write blocks for good if exiting is set",
    edits=P1_P2_FIX.edits + (
        Change("send", "write_page_packet", "DISPATCH", to={"dest": "SENDING"}),
        Add("send", row("write_returns", "SENDING", "JOB_SENT", when=["alive"],
                        qemu="qio_channel_writev_full_all"))),
    functions={**P1_P2_FIX.functions, "send": {"alive": _alive}},
    states={"send": ("SENDING",)}, transports=("socket",), faults=("send-write-error",))
BLOCKED_AT = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))


def test_the_declared_waits_pass_a_blocking_state_the_model_deadlocks_in():
    """The gap derived transactions close: with the declared waits, the added state is
    never seen, and the run passes; the fine-grained model and the default run deadlock."""
    assert _judged(BLOCKED_AT, BLOCKED_WRITE, "declared")[:2] == ("pass", [])
    assert _judged(BLOCKED_AT, BLOCKED_WRITE, None)[:2] == ("violation", ["no_deadlock"])


def test_only_the_catalogue_as_it_is_gets_the_declared_waits():
    """A catalogue variant as it is gets the declared waits; an edit, a bounded socket
    or a second fault gets derived transactions."""
    seed, config = get_variant("seed"), Config()
    assert transactions_for(config, seed) == "declared"
    assert transactions_for(config, BLOCKED_WRITE) == "derived"
    assert transactions_for(Config(socket_capacity=1), seed) == "derived"
    assert transactions_for(Config(faults=("send-write-error",), max_faults=2), seed) == \
        "derived"


@pytest.mark.parametrize("name, config", [
    ("seed", Config(channels=2, pages=1, rounds=1, live=False)),
    ("no-recv-park", Config(channels=2, pages=1, rounds=1, live=False)),
    ("p2-fix-exit-kicks", Config(channels=2, pages=1, rounds=1, live=False,
                                 faults=("send-write-error",))),
    ("seed", Config(transport="file", channels=2, pages=2, rounds=2,
                    faults=("recv-read-error",))),
])
def test_derived_and_declared_agree_on_the_catalogue(name, config):
    """On the catalogue's own tables both ways of cutting give the same verdict and
    broken properties (the declared waits are the tighter: never more states)."""
    variant = get_variant(name)
    declared = _judged(config, variant, "declared")
    derived = _judged(config, variant, "derived")
    assert declared[:2] == derived[:2]
    assert declared[2].states <= derived[2].states
