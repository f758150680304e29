"""The source side of the replay skeleton (replay.py): the migration thread's syncs and
the send threads' packets, one traced event at a time."""

from .skeleton import SYNC, Blocked, Impossible, check_count, live_thread, start_thread


def mig_take_sem_sync(st):
    """The untraced return from qemu_sem_wait(&p->sem_sync) after `wait c`."""
    c = st.mig_blocked
    if c is None:
        return
    t = st.send[c]
    if t.sem_sync > 0:
        t.sem_sync -= 1
    elif st.file_mode and t.pending_sync and t.started and not t.ended:
        _serve_local_sync(st, c)
        t.sem_sync -= 1
    elif _exit_kick(st, c):
        t.exit_posted = True
    else:
        raise Blocked(f"the migration thread waits on send[{c}]'s sem_sync "
                      f"(multifd_send_sync_main_wait channel {c}) and nothing posted it: "
                      f"{_send_why(st, c)}")
    st.mig_blocked = None


def _exit_kick(st, c):
    """patches/0003: a send thread that leaves on `exiting` kicks main before it logs
    multifd_send_thread_end, so the post may be taken first (the thread must then end)."""
    t = st.send[c]
    return (st.patched and st.send_exiting and t.started and not t.ended
            and not t.exit_posted and c not in st.send_errors)


def _serve_local_sync(st, c):
    """Mapped-ram: the send thread's untraced MULTIFD_SYNC_LOCAL (no packet)."""
    t = st.send[c]
    t.last_sync_round = t.pending_sync.popleft()
    t.sem_sync += 1


def _send_why(st, c):
    t = st.send[c]
    if t.ended:
        return f"send[{c}] has exited" + (" with its sync request unserved" if t.pending_sync else "")
    if not t.started:
        return f"send[{c}] has not started"
    if not t.pending_sync:
        return f"send[{c}] has no sync request (it served it, or was never signalled)"
    return f"send[{c}] has not written its SYNC packet"


def send_signal(st, ev):
    _expect_mig_loop(st, ev, "signal")
    if st.mig_phase == "idle":
        st.mig_phase, st.mig_i, st.mig_round = "signal", 0, st.mig_round + 1
    t = st.send[ev.ch]
    t.pending_sync.append(st.mig_round)
    t.jobs_in_window = 0
    st.mig_i += 1


def _expect_mig_loop(st, ev, step):
    """Shape of multifd_send_sync_main(): signal 0..N-1, then wait 0..N-1, then done."""
    n = st.channels
    if step == "signal":
        want = 0 if st.mig_phase == "idle" else (st.mig_i if st.mig_phase == "signal" and st.mig_i < n else None)
    elif step == "wait":
        want = (0 if st.mig_phase == "signal" and st.mig_i == n else
                st.mig_i if st.mig_phase == "wait" and st.mig_i < n else None)
    else:
        want = None if not (st.mig_phase == "wait" and st.mig_i == n) else -1
    if want is None or (want >= 0 and ev.ch != want):
        raise Impossible(f"multifd_send_sync_main() signals channels 0..{n - 1} in order, then "
                         f"waits for them in order, then logs its packet number; "
                         f"expected {mig_expected(st)}")


def mig_expected(st):
    n = st.channels
    if st.mig_phase == "idle":
        return "multifd_send_sync_main_signal channel 0"
    if st.mig_phase == "signal":
        return (f"multifd_send_sync_main_signal channel {st.mig_i}" if st.mig_i < n
                else "multifd_send_sync_main_wait channel 0")
    return (f"multifd_send_sync_main_wait channel {st.mig_i}" if st.mig_i < n
            else "multifd_send_sync_main")


def send_wait(st, ev):
    _expect_mig_loop(st, ev, "wait")
    if st.mig_phase == "signal":
        st.mig_phase, st.mig_i = "wait", 0
    st.mig_blocked = ev.ch
    st.mig_i += 1


def send_sync_done(st, ev):
    _expect_mig_loop(st, ev, "done")
    nums = st.round_nums.get(st.mig_round, {})
    n = st.channels
    if st.version == "7.2" and not st.file_mode:
        want = {c: ev.num - n + c for c in range(n)}
        if nums != want:
            raise Impossible(f"7.2 numbers a round's SYNC packets at signal time, "
                             f"{ev.num - n}..{ev.num - 1} for packet num {ev.num}; this round's "
                             f"SYNC packets carry {_nums(nums)}")
    elif not st.file_mode and st.max_num + 1 != ev.num:
        raise Impossible(f"packet num {ev.num} must be the next unused packet number, "
                         f"{st.max_num + 1}, once every channel has served the sync")
    st.mig_phase, st.rounds_done = "idle", st.mig_round


def _nums(nums):
    return ", ".join(f"channel {c}: {v}" for c, v in sorted(nums.items())) or "none"


def _send_thread(st, ev):
    return live_thread(st.send, "send", ev)


def send_start(st, ev):
    start_thread(st.send, "send", ev)


def send_pages(st, ev):
    _send_thread(st, ev).filled_pages = ev.pages


def send_packet(st, ev):
    t = _send_thread(st, ev)
    pages = ev.pages if st.version == "7.2" else t.filled_pages
    if ev.flags & SYNC:
        _check_sync_packet(st, ev, t, pages)
        _write_sync_packet(st, ev, t, pages)
    else:
        _check_page_packet(st, ev, t, pages)
        if t.owed and not pages:
            t.owed -= 1
        elif t.pending_sync:
            t.jobs_in_window += 1
    _written(st, ev, t)


def _check_sync_packet(st, ev, t, pages):
    if not t.pending_sync:
        raise Blocked(f"SYNC packet {ev.num} on channel {ev.ch}, but no sync is requested: the "
                      f"migration thread has not signalled channel {ev.ch} "
                      f"(multifd_send_sync_main_signal)")
    if st.version != "7.2" and pages is not None:
        raise Impossible("a SYNC packet carrying pages (multifd_send_ram_fill just before it) is "
                         "7.2's coalesced SYNC: 10.0 sends the page job and the SYNC apart")
    _check_number(st, ev, t)


def _write_sync_packet(st, ev, t, pages):
    t.last_sync_round = t.pending_sync.popleft()
    st.round_nums.setdefault(t.last_sync_round, {})[ev.ch] = ev.num
    t.sem_sync += 1
    if st.version == "7.2" and pages:
        t.owed += 1


def _check_page_packet(st, ev, t, pages):
    if t.owed:
        if ev.num != t.last_num or pages:
            raise Impossible(f"after a SYNC that carried pages, 7.2 owes an empty packet with the "
                             f"channel's current number ({t.last_num}); got packet {ev.num} with "
                             f"{pages} pages")
        return
    if t.last_sync_round > st.rounds_done:
        raise Blocked(f"page packet on channel {ev.ch} after its SYNC of round "
                      f"{t.last_sync_round}, before the migration thread finished that round: "
                      f"no page job is queued while it waits")
    if t.pending_sync and t.jobs_in_window >= 1:
        raise Impossible(f"a second page packet on channel {ev.ch} between the sync request and "
                         f"its SYNC packet: only one job can be pending")
    _check_number(st, ev, t)


def _check_number(st, ev, t):
    if st.version == "7.2":
        if ev.num <= t.last_num:
            raise Impossible(f"7.2 numbers packets per channel in increasing order; "
                             f"packet {ev.num} after {t.last_num} on channel {ev.ch}")
    elif ev.num in st.used_nums:
        raise Impossible(f"packet_num {ev.num} is used twice: 10.0 never reuses a number "
                         f"(7.2's coalesced SYNC does)")


def _written(st, ev, t):
    t.queue.append((ev.num, ev.flags))
    t.packets += 1
    t.last_num = max(t.last_num, ev.num)
    t.filled_pages = None
    t.last_was_sync = bool(ev.flags & SYNC)
    st.used_nums.add(ev.num)
    st.max_num = max(st.max_num, ev.num)


def send_error(st, ev):
    t = _send_thread(st, ev)
    st.send_exiting = True
    st.send_errors.add(ev.ch)
    if t.queue:
        t.queue.pop()              # the failed write never reaches the destination
    if not t.last_was_sync:
        t.sem_sync += 1            # multifd_send_kick_main(); a failed SYNC's post becomes the kick


def send_end(st, ev):
    t = _send_thread(st, ev)
    if not (st.send_exiting or ev.ch in st.send_errors):
        raise Blocked(f"send[{ev.ch}] exits, but no thread has set exiting "
                      f"(no error, no multifd_send_terminate_threads)")
    check_count(st, ev, t.packets, bool(st.send_errors))
    t.ended = True
    if st.patched and ev.ch not in st.send_errors and not t.exit_posted:
        t.sem_sync += 1            # patches/0003: every send thread kicks main as it quits


def send_terminate(st, ev):
    st.send_exiting = True
    if ev.err:
        st.send_errors.add(-1)


def send_channel_error(st, ev):
    st.send_exiting = True
    st.send_errors.add(ev.ch)
