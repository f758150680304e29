"""The destination side of the replay skeleton (replay.py): the load thread's syncs and
the recv threads' packets, one traced event at a time."""

from .skeleton import SYNC, Blocked, Impossible, check_count, live_thread, start_thread


def load_take_sem_sync(st, final=False):
    """The untraced return from qemu_sem_wait(&multifd_recv_state->sem_sync).

    `final`: at the end of the trace, only a thread still running can post."""
    if not st.load_blocked:
        return
    if st.sem_sync > 0:
        st.sem_sync -= 1
    elif (poster := _exit_poster(st, final)) is not None:
        st.recv[poster].exit_posted = True
    else:
        c = _local_sync_server(st, final)
        if c is None:
            raise Blocked(f"the load thread waits on the shared sem_sync "
                          f"(multifd_recv_sync_main_wait) and nothing posted it: "
                          f"{_recv_why(st)}")
        st.recv[c].requests -= 1
    st.load_blocked = False
    if st.file_mode and st.load_phase == "wait" and st.load_i == st.channels:
        st.load_phase = "idle"


def _exit_poster(st, final):
    """patches/0002: a recv thread that may leave (on `exiting` or on EOF) posts sem_sync
    before it logs multifd_recv_thread_end, so the post may be taken first (the thread must
    then end). Not at the end of the trace: such a thread never logged its exit."""
    if not st.patched or final:
        return None
    for c, r in enumerate(st.recv):
        if r.started and not r.ended and not r.exit_posted and (st.recv_exiting or _eof(st, c)):
            return c
    return None


def _eof(st, c):
    """The source has stopped writing to channel c and everything it wrote was read."""
    return not st.file_mode and (not st.has_src or (st.send[c].ended or st.send_exiting)
                                 and not st.send[c].queue)


def _local_sync_server(st, final=False):
    """Mapped-ram: a recv thread that served (untraced) a sync post it got before
    `exiting` was set. It may have done so before it exited, so an exited thread
    counts too, except at the end of the trace, when only a running one could."""
    if not st.file_mode:
        return None
    for c, r in enumerate(st.recv):
        if r.requests > 0 and r.started and not (final and r.ended):
            return c
    return None


def _recv_why(st):
    parts = []
    for c, r in enumerate(st.recv):
        if r.ended:
            parts.append(f"recv[{c}] has exited")
        elif not r.started:
            parts.append(f"recv[{c}] has not started")
        elif r.parked is not None:
            parts.append(f"recv[{c}] is parked after its SYNC packet")
        else:
            parts.append(f"recv[{c}] has not read its SYNC packet")
    return "; ".join(parts)


def _expect_load_loop(st, ev, step):
    """Shape of multifd_recv_sync_main(): socket waits then signals; file the reverse."""
    n = st.channels
    first, second = ("signal", "wait") if st.file_mode else ("wait", "signal")
    if step == first:
        want = 0 if st.load_phase == "idle" else (st.load_i if st.load_phase == first and st.load_i < n else None)
    elif step == second:
        want = (0 if st.load_phase == first and st.load_i == n else
                st.load_i if st.load_phase == second and st.load_i < n else None)
    else:
        want = -1 if st.load_phase == second and st.load_i == n else None
    if want is None or (want >= 0 and ev.ch != want):
        raise Impossible(f"multifd_recv_sync_main() {first}s 0..{n - 1} in order, then "
                         f"{second}s 0..{n - 1}; expected {load_expected(st)}")


def load_expected(st):
    n = st.channels
    first, second = ("signal", "wait") if st.file_mode else ("wait", "signal")
    names = {"wait": "multifd_recv_sync_main_wait", "signal": "multifd_recv_sync_main_signal"}
    if st.load_phase == "idle":
        return f"{names[first]} 0"
    if st.load_phase == first:
        return f"{names[first]} {st.load_i}" if st.load_i < n else f"{names[second]} 0"
    return f"{names[second]} {st.load_i}" if st.load_i < n else "multifd_recv_sync_main"


def _load_step(st, ev, step):
    _expect_load_loop(st, ev, step)
    if st.load_phase == "idle":
        st.load_phase, st.load_i, st.load_round = step, 0, st.load_round + 1
    elif st.load_phase != step:
        st.load_phase, st.load_i = step, 0
    st.load_i += 1


def recv_wait(st, ev):
    _load_step(st, ev, "wait")
    st.load_blocked = True


def recv_signal(st, ev):
    _load_step(st, ev, "signal")
    r = st.recv[ev.ch]
    if st.file_mode:
        r.requests += 0 if st.recv_exiting_set else 1   # after exiting: it leaves, unserved
    else:
        st.recv_max_num = max(st.recv_max_num, r.last_num)
        r.sem_sync += 1


def recv_sync_done(st, ev):
    _expect_load_loop(st, ev, "done")
    if ev.num != st.recv_max_num:
        raise Impossible(f"multifd_recv_sync_main logs the highest packet number its channels "
                         f"have read, {st.recv_max_num}, not {ev.num}")
    st.load_phase = "idle"


def _recv_thread(st, ev):
    return live_thread(st.recv, "recv", ev)


def recv_start(st, ev):
    start_thread(st.recv, "recv", ev)


def recv_packet(st, ev):
    r = _recv_thread(st, ev)
    if r.parked is not None and r.sem_sync == 0:
        raise Blocked(f"recv[{ev.ch}] logs packet {ev.num} while parked after its SYNC packet "
                      f"{r.parked}: the load thread has not signalled channel {ev.ch} "
                      f"(multifd_recv_sync_main_signal)")
    _check_delivery(st, ev)
    if r.parked is not None:
        r.sem_sync -= 1
        r.parked = None
    r.last_num, r.packets = ev.num, r.packets + 1
    if ev.flags & SYNC:
        st.sem_sync += 1
        r.parked = ev.num


def _check_delivery(st, ev):
    if not st.has_src:
        return
    queue = st.send[ev.ch].queue
    if not queue:
        raise Blocked(f"packet {ev.num} (flags 0x{ev.flags:x}) on channel {ev.ch} was never "
                      f"written by the source")
    if queue[0] != (ev.num, ev.flags):
        num, flags = queue[0]
        raise Impossible(f"a channel delivers packets in the order they were written: the "
                         f"source's next packet on channel {ev.ch} is {num} (flags 0x{flags:x}), "
                         f"not {ev.num} (flags 0x{ev.flags:x})")
    queue.popleft()


def recv_end(st, ev):
    r = _recv_thread(st, ev)
    eof = _eof(st, ev.ch)
    if r.parked is not None and not (st.recv_exiting or r.sem_sync):
        raise Blocked(f"recv[{ev.ch}] exits while parked after its SYNC packet {r.parked}, "
                      f"with no signal and no multifd_recv_terminate_threads")
    if not (st.recv_exiting or st.recv_errors or eof):
        raise Blocked(f"recv[{ev.ch}] exits with neither EOF (the source's send[{ev.ch}] has "
                      f"not finished) nor multifd_recv_terminate_threads")
    check_count(st, ev, r.packets, st.recv_errors or bool(st.send_errors))
    r.ended = True
    st.recv_exiting_set = st.recv_exiting
    if st.patched and not r.exit_posted:
        st.sem_sync += 1           # patches/0002: a recv thread posts sem_sync as it quits


def recv_terminate(st, ev):
    """multifd_recv_terminate_threads() logs before its xchg(&exiting, 1): until that
    thread's next line (or a recv thread's exit), a sync post may still be served."""
    if not st.recv_exiting:
        st.recv_terminator = (ev.side, ev.tid)
    st.recv_exiting = True
    if ev.err:
        st.recv_errors = True


def exiting_now_set(st, ev):
    """Any later line of the thread that logged the terminate comes after its xchg."""
    if st.recv_terminator == (ev.side, ev.tid) and ev.kind != "recv_terminate":
        st.recv_exiting_set = True


def set_state(st, ev):
    if ev.side == "src":
        st.src_state = ev.state
    else:
        st.dst_state = ev.state


def foreign(st, ev):
    raise Impossible(f"{ev.name} is a QEMU {ev.state} event: a {st.version} trace cannot log it")
