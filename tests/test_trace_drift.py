"""Model walks, logged as QEMU 10.0 would log them, conform to the trace replay skeleton.

The match (checks/traces/match.py) reads what each model row logs from the row itself
(`trace=` in model/); the replay (checks/traces/replay.py) is a hand-written skeleton
of the same protocol. Here random walks of the model, one row a step, become a pair of
QEMU trace logs and go through the replay: every walk must conform, and the same walk
with a SYNC packet taken out must not. So the rows' trace declarations and the
skeleton cannot drift apart unnoticed.

A walk's log is what the rows declare (through `match.model_events`, as the match reads
it), written in QEMU's words, plus what the skeleton needs that no row declares,
derived here from the walk (`_undeclared`): thread starts, packet numbers and flags,
the destination's packet reads, and the terminates. Every line is stamped in walk order.
"""

import random
from collections import deque
from functools import lru_cache

import pytest
from hypothesis import given, settings, strategies as st

from checks.system import System
from checks.traces.match import model_events
from checks.traces.replay import validate
from checks.traces.tracelog import parse_text
from model.config import FLUSH_MODES, Config
from model.variants import get_variant

VARIANTS = ("seed", "qemu-10.0")
LIMIT = 800                      # steps: a whole run at these sizes takes under 400


@lru_cache(maxsize=None)
def _system(config, variant):
    return System(config, get_variant(variant), transactions=False)


def walk(system, choose, limit=LIMIT):
    """([(label, state before)], the last state): from the initial state, `choose` picks
    the index of one of the enabled steps [(label, next state)], until none is enabled
    or `limit` steps."""
    s, steps = system.initial_states()[0], []
    for _ in range(limit):
        successors = system.successors(s)
        if not successors:
            break
        label, after = successors[choose(successors)]
        steps.append((label, s))
        s = after
    return steps, s


def ended(system, last):
    """The walk reached the model's end: both sides finished, nothing left to run."""
    return not system.successors(last) and system.is_proper_end(last)


# Thread ids: the migration thread, the main loop (which runs multifd_send_shutdown()),
# the send threads; the load coroutine (in the destination's main thread), the recv threads.
TIDS = {"mig": 100, "main": 101, "send": 110, "load": 200, "recv": 210}


class QemuLog:
    """Trace lines as QEMU 10.0's `log` backend writes them (-msg timestamp=on), per side,
    stamped one microsecond apart in walk order. Packet numbers, counts and flags are kept
    as QEMU keeps them (multifd_send_state->packet_num, p->packets_sent, ...)."""

    def __init__(self, channels):
        self.lines = {"src": [], "dst": []}
        self.clock = 0
        self.packet_num = 0                                  # the next packet's number
        self.unread = [deque() for _ in range(channels)]     # (num, flags) per channel
        self.sent, self.received = [0] * channels, [0] * channels
        self.last_read = [-1] * channels                     # p->packet_num, destination
        self.recv_max = -1                                   # multifd_recv_state->packet_num

    def line(self, thread, text, t=0):
        side = "src" if thread in ("mig", "main", "send") else "dst"
        self.clock += 1
        stamp = f"{1000 + self.clock // 1_000_000}.{self.clock % 1_000_000:06d}"
        self.lines[side].append(f"{TIDS[thread] + t}@{stamp}:{text}")

    def starts(self, channels):
        """multifd_{send,recv}_thread_start: every channel's threads exist from the start."""
        for c in range(channels):
            self.line("send", f"multifd_send_thread_start {c}", c)
            self.line("recv", f"multifd_recv_thread_start {c}", c)

    def packet(self, t, flags):
        """multifd_send_fill (after multifd_send_ram_fill for a page), in send[t]."""
        if not flags:
            self.line("send", f"multifd_send_ram_fill channel {t} normal pages 1 zero pages 0", t)
        self.line("send", f"multifd_send_fill channel {t} packet_num {self.packet_num} "
                          f"flags 0x{flags:x} next packet size {0 if flags else 4096}", t)
        self.unread[t].append((self.packet_num, flags))
        self.packet_num += 1
        self.sent[t] += 1

    def unfill(self, t):
        """multifd_recv_unfill: recv[t] read the header of the next packet on its channel."""
        num, flags = self.unread[t].popleft()
        self.line("recv", f"multifd_recv_unfill channel {t} packet_num {num} flags 0x{flags:x} "
                          f"next packet size {0 if flags else 4096}", t)
        self.last_read[t] = num
        self.received[t] += 1


# The QEMU 10.0 trace point of each abstract event a row declares, by thread; {i} is the
# event's channel or iteration, {t} the thread's channel.
WORDS = {
    "mig": {"signal": "multifd_send_sync_main_signal channel {i}",
            "wait": "multifd_send_sync_main_wait channel {i}",
            "done": "multifd_send_sync_main packet num {num}"},
    "send": {"error": "multifd_send_error channel {t}",
             "end": "multifd_send_thread_end channel {t} packets {sent}"},
    "load": {"signal": "multifd_recv_sync_main_signal channel {i}",
             "wait": "multifd_recv_sync_main_wait iter {i}"},
    "recv": {"error": "multifd_recv_terminate_threads error 1",
             "end": "multifd_recv_thread_end channel {t} packets {received}"},
}


def _declared(log, thread, t, event):
    """One event a row declares (`trace=`), in QEMU's words."""
    kind, *args = event
    if thread == "send" and kind in ("packet", "sync"):
        log.packet(t, 1 if kind == "sync" else 0)
    else:
        log.line(thread, WORDS[thread][kind].format(
            i=args[0] if args else None, t=t, num=log.packet_num, sent=log.sent[t],
            received=log.received[t]), t)


def _undeclared(log, thread, t, row, s):
    """What QEMU logs at a row that declares nothing, because match.py projects none of it
    (so the rows leave it out), derived here from the row.

    A row whose effect sets `exiting` runs multifd_{send,recv}_terminate_threads(), which
    logs first (the source's from the main loop, in migrate_fd_cleanup()); recv[t] taking a
    packet logs its header. The destination's socket release loop ends with
    multifd_recv_sync_main (row sync_done), with the highest packet number the released
    channels had read: the skeleton reads it, match.py projects none of it."""
    effects = {e.__name__ for e in row.effects}
    if "set_exiting" in effects and thread == "mig":
        log.line("main", "multifd_send_terminate_threads")
    elif "set_exiting" in effects and thread == "load":
        log.line("load", "multifd_recv_terminate_threads error 0")
    elif "take_packet" in effects and thread == "recv":
        log.unfill(t)
    elif thread == "load" and row.trigger == "release_channel":   # (its signal: declared)
        log.recv_max = max(log.recv_max, log.last_read[s.load_i])
    elif thread == "load" and row.trigger == "sync_done":
        log.line("load", f"multifd_recv_sync_main packet num {log.recv_max}")


def _thread(name):
    """("recv", 1) for "recv[1]", ("mig", 0) for "mig"."""
    if "[" not in name:
        return name, 0
    return name[:name.index("[")], int(name[name.index("[") + 1:-1])


def qemu_log(system, steps):
    """The walk's (source lines, destination lines): one row a step (transactions off)."""
    log = QemuLog(system.config.channels)
    log.starts(system.config.channels)
    for label, s in steps:
        thread, t = _thread(label[0])
        (row, _, _), = system.unfold(s, label)
        (events,) = model_events(system, s, label)
        _undeclared(log, thread, t, row, s)
        for event in events:
            _declared(log, thread, t, event)
    return log.lines["src"], log.lines["dst"]


def replay(src, dst):
    return validate(parse_text("\n".join(src), "src", "10.0"),
                    parse_text("\n".join(dst), "dst", "10.0"), "10.0")


def without_a_sync_packet(src, dst):
    """The logs with the first SYNC packet the migration thread waited for taken out of
    both sides (never written, never read); None if no sync round completed."""
    done = [i for i, x in enumerate(src) if ":multifd_send_sync_main packet num" in x]
    for i, x in enumerate(src[:done[-1]] if done else []):
        if ":multifd_send_fill " in x and "flags 0x1 " in x:
            header = x.split(":", 1)[1].split(" next")[0].replace("send_fill", "recv_unfill")
            return src[:i] + src[i + 1:], [y for y in dst if f":{header} " not in y]
    return None


# Fault layers whose walks the skeleton replays (recv-eof: see the last test; short-read
# and channel-create-error end a walk with threads that never ran or a crashed process).
FAULTS = {"socket": ("send-write-error", "recv-read-error", "cancel", "network-stall"),
          "file": ("send-write-error", "recv-read-error", "cancel")}


@st.composite
def configs(draw, transports=("socket", "file"), faulty=False):
    live, transport = draw(st.booleans()), draw(st.sampled_from(transports))
    return Config(transport=transport, channels=draw(st.integers(1, 3)),
                  pages=draw(st.integers(1, 2)), rounds=draw(st.integers(1, 2)) if live else 1,
                  live=live, flush=draw(st.sampled_from(FLUSH_MODES)),
                  faults=(draw(st.sampled_from(FAULTS[transport])),) if faulty else ())


def _conforms(system, steps, last):
    """The walk's logs CONFORM, and are complete if the walk reached the model's end."""
    src, dst = qemu_log(system, steps)
    verdict = replay(src, dst)
    assert verdict.conforms, (verdict.event.text, verdict.reason)
    assert not ended(system, last) or verdict.end[0].startswith("complete"), verdict.end
    return src, dst


def _drawn(data):
    return lambda successors: data.draw(st.integers(0, len(successors) - 1))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(config=configs(), variant=st.sampled_from(VARIANTS), data=st.data())
def test_model_walks_conform_to_the_replay(config, variant, data):
    """A random walk of the model, logged as QEMU logs it, CONFORMS; taking one SYNC
    packet out of it (a socket walk that finished a sync round) is REJECTED where a wait
    for that SYNC can no longer return."""
    system = _system(config, variant)
    src, dst = _conforms(system, *walk(system, _drawn(data)))
    altered = without_a_sync_packet(src, dst)
    if altered is not None:
        verdict = replay(*altered)
        assert not verdict.conforms and "sem_sync" in verdict.reason, verdict.reason


@settings(max_examples=40, deadline=None, derandomize=True)
@given(config=configs(faulty=True), variant=st.sampled_from(VARIANTS), data=st.data())
def test_walks_with_a_fault_conform_to_the_replay(config, variant, data):
    """Under one fault layer too: the rows that fail (a write, a read) declare the error
    and the thread's end; a walk that ends in the P1 or P2 hang conforms (a hang the
    skeleton explains)."""
    system = _system(config, variant)
    _conforms(system, *walk(system, _drawn(data)))


def _whole_walk(config, variant="seed", seed=0):
    """A seeded random walk to the model's end."""
    system = _system(config, variant)
    rng = random.Random(seed)
    steps, last = walk(system, lambda successors: rng.randrange(len(successors)))
    if not ended(system, last):
        pytest.fail(f"the walk did not reach the model's end in {LIMIT} steps")
    return system, steps


@pytest.mark.parametrize("transport", ["socket", "file"])
def test_a_whole_run_conforms_and_ends_complete(transport):
    """A walk to the model's end, at 2 channels, is a complete QEMU run for the skeleton."""
    config = Config(transport=transport, channels=2, pages=2, rounds=2)
    system, steps = _whole_walk(config)
    verdict = replay(*qemu_log(system, steps))
    assert verdict.conforms, (verdict.event.text, verdict.reason)
    assert verdict.end[0].startswith("complete"), verdict.end
    assert verdict.summary["src_rounds"] >= 3


def test_a_sync_packet_never_sent_is_rejected():
    """The negative case on a fixed walk: one SYNC packet taken out, the wait for it is
    the first event the skeleton cannot explain."""
    system, steps = _whole_walk(Config(channels=2, pages=2, rounds=2))
    src, dst = without_a_sync_packet(*qemu_log(system, steps))
    verdict = replay(src, dst)
    assert not verdict.conforms
    assert "sem_sync" in verdict.reason and "nothing posted it" in verdict.reason


def _early_eof_first(successors):
    """recv[0]'s early EOF as soon as it can happen, else a step of recv[0], else the
    first step."""
    labels = [label for label, _ in successors]
    return next((k for k, label in enumerate(labels) if label[1] == "read_early_eof"),
                next((k for k, label in enumerate(labels) if label[0] == "recv[0]"), 0))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "recv-eof: the model lets a socket end early (read_early_eof) while the source's send "
    "thread runs; the skeleton accepts a recv thread's end only after EOF from a finished "
    "source channel or a terminate: 'recv[0] exits with neither EOF (the source's send[0] "
    "has not finished) nor multifd_recv_terminate_threads'"))
def test_an_early_end_of_a_socket_conforms():
    """Fault recv-eof: recv[0] reads the end of its socket before the source wrote
    anything on it, and the thread ends quietly (no Error is set, no terminate)."""
    config = Config(channels=1, pages=1, rounds=1, live=False, faults=("recv-eof",))
    system = _system(config, "seed")
    steps, _ = walk(system, _early_eof_first)
    if not any(label[1] == "read_early_eof" for label, _ in steps):
        pytest.fail("the walk never read an early EOF")
    verdict = replay(*qemu_log(system, steps))
    assert verdict.conforms, (verdict.event.text, verdict.reason)
