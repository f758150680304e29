"""The model layer: configurations, role tables, the variant catalogue."""

import re

import pytest

from checks.properties import REGISTRY
from model.config import Config, ConfigError
from model.machine import build_machine, compile_role
from model.variants import CATALOGUE, ROLES, Change, Drop, Variant, VariantError, apply_variant


@pytest.mark.parametrize("kwargs, words", [
    ({"channels": 0}, "channels must be"),
    ({"pages": 99}, "pages must be"),
    ({"live": False, "rounds": 2}, "non-live"),
    ({"flush": "sometimes"}, "unknown flush mode"),
    ({"transport": "rdma"}, "unknown transport"),
    ({"zero_pages": ((0, 1),)}, "file transport only"),
    ({"transport": "file", "zero_pages": ((2, 1),)}, "outside pages"),
])
def test_impossible_configs_get_one_line_errors(kwargs, words):
    """An impossible configuration raises ConfigError with one line saying why."""
    with pytest.raises(ConfigError) as err:
        Config(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_each_role_is_a_transitions_machine(role):
    """Each role's table builds a transitions.Machine without auto transitions."""
    machine = build_machine(role)
    assert set(machine.states) == set(role.states)
    assert not any(name.startswith("to_") for name in machine.events)


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_every_row_names_its_qemu_function(role):
    """A reviewer checks the table against C: every row says which function it models."""
    assert all(re.fullmatch(r"[a-z_0-9]+", r["qemu"]) for r in role.rows)


@pytest.mark.parametrize("role", ROLES.values(), ids=lambda r: r.name)
def test_every_state_is_entered_and_transaction_starts_exist(role):
    """No dead declarations: every state but a start state is some row's destination."""
    dests = {r["dest"] for r in role.rows}
    starts = {role.states[0], *role.start.values()}
    if role.start_if:
        starts |= {role.start_if(Config(faults=("channel-create-error",)))}
    assert set(role.states) - starts <= dests
    assert set(role.transaction_starts) <= set(role.states)


def test_tables_compile_for_a_config():
    """Compiling binds every guard and effect; rows land under their source state."""
    table = compile_role(ROLES["send"], Config())
    idle = ROLES["send"].states.index("IDLE")
    assert [r.trigger for r in table[idle]] == ["wait_sem"]


def test_edit_that_matches_no_row_is_an_error():
    """A stale variant edit is reported, naming the row it looked for."""
    variant = Variant("bad", "hypothesis: test", "test", edits=(Drop("recv", "nope", "TOP"),))
    with pytest.raises(VariantError, match="recv.nope from TOP: matches no row"):
        apply_variant(variant)


def test_ambiguous_edit_asks_for_dest():
    """Two rows share trigger and source: the edit must name its dest."""
    variant = Variant("bad", "hypothesis: test", "test",
                      edits=(Change("load", "read_eos", "READ_RECORD", to={"dest": "DONE"}),))
    with pytest.raises(VariantError, match="give dest"):
        apply_variant(variant)


@pytest.mark.parametrize("variant", CATALOGUE, ids=lambda v: v.name)
def test_every_variant_names_a_commit_or_a_hypothesis(variant):
    """A variant stands for a QEMU commit (hash first) or says it is a hypothesis."""
    assert re.match(r"[0-9a-f]{10,40} ", variant.stands_for) or \
        variant.stands_for.startswith("hypothesis: ")
    apply_variant(variant)


def test_every_property_has_a_variant_that_breaks_it():
    """No property without a matrix entry whose variant must break it."""
    from checks.matrix import MATRIX
    broken = {name for e in MATRIX for name in e.expected_breaks()}
    checked = {n for n, e in REGISTRY.items() if e.kind != "sometimes"}
    assert checked <= broken


def test_default_zero_page_turns_zero_in_the_last_round():
    """A file config's last page is zero in the last round, so the bitmap is exercised."""
    assert Config(transport="file", pages=3, rounds=2).zero_pages == ((2, 2),)
    assert Config(transport="file", pages=1).zero_pages == ()
    assert Config().zero_pages == ()


def test_qemu_72_rides_sync_on_data_and_the_seed_never_does():
    """7.2's shared pending_job lets a SYNC ride on a data packet, then an empty packet."""
    from checks.verify import verify
    from model.transports import packet_has_page, packet_is_sync
    from model.variants import get_variant

    def shapes(name):
        cfg = Config(channels=1, pages=2, rounds=2, flush="per-section")
        _, result = verify(cfg, get_variant(name))
        packets = {p for s in map(result.graph.state_of, range(result.states))
                   for socket in s.sockets for p in socket}
        return (any(packet_has_page(p) and packet_is_sync(p) for p in packets), 0 in packets)

    assert shapes("qemu-7.2") == (True, True)
    assert shapes("seed") == (False, False)


def test_version_variant_refuses_a_mode_its_qemu_lacks():
    """QEMU 7.2 has no per-round sync and no mapped-ram: one line says so."""
    from model.variants import get_variant
    with pytest.raises(VariantError, match="runs with --flush per-section"):
        get_variant("qemu-7.2").check_config(Config())
