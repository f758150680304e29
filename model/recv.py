"""Recv channel thread: multifd_recv_thread(), one per channel, socket (packet) mode.

Abstracts multifd_recv_thread() at QEMU 9d01778af8e3 (protocol notes §2.4):

    R1: if exiting: exit
        read a whole packet (qio_channel_read_all_eof); EOF or error: exit
        if it carries pages: ops->recv() reads them into guest RAM
        if flags & MULTIFD_FLAG_SYNC:
            qemu_sem_post(&multifd_recv_state->sem_sync); qemu_sem_wait(&p->sem_sync)

Left out: the packet checks of multifd_recv_unfill_packet() (magic, sizes, ramblock),
read errors and multifd_recv_terminate_threads() on error, receivedmap updates.
"""

from .machine import Role, row
from .state import NO_PACKET, add, put
from .transports import (EOF_PACKET, packet_has_page, packet_is_sync, packet_page,
                         packet_version)

__all__ = ["ROLE", "STATES", "EXITED", "RECEIVING", "PARKED"]

STATES = (
    "TOP",        # loop top: multifd_recv_state->exiting check
    "READ",       # blocked in qio_channel_read_all_eof()
    "RECEIVING",  # packet header read; its pages being read into guest RAM
    "SYNCING",    # the packet carried MULTIFD_FLAG_SYNC: post the shared sem_sync
    "PARKED",     # qemu_sem_wait(&p->sem_sync) until multifd_recv_sync_main releases it
    "EXITED",     # returned from multifd_recv_thread(); waits to be joined
)
EXITED = STATES.index("EXITED")
RECEIVING = STATES.index("RECEIVING")
PARKED = STATES.index("PARKED")

# Where a transaction starts (machine.py): each blocking read, and the park.
WAITS = ("READ", "PARKED")

TRANSITIONS = [
    row("see_exiting", "TOP", "EXITED", when=["exiting"], qemu="multifd_recv_thread"),
    row("pass_exiting_check", "TOP", "READ", unless=["exiting"], qemu="multifd_recv_thread"),
    row("read_packet", "READ", "RECEIVING", when=["page_packet_next"], do="take_packet",
        qemu="multifd_recv_thread"),
    row("read_sync_packet", "READ", "SYNCING", when=["sync_packet_next"], do="take_packet",
        qemu="multifd_recv_thread"),
    row("read_eof", "READ", "EXITED", when=["end_of_stream"], qemu="multifd_recv_thread"),
    row("write_guest_page", "RECEIVING", "TOP", unless=["sync_flag_held"],
        do="write_guest_page", qemu="multifd_nocomp_recv"),
    row("write_guest_page", "RECEIVING", "SYNCING", when=["sync_flag_held"],
        do="write_guest_page", qemu="multifd_nocomp_recv"),
    row("post_sem_sync", "SYNCING", "PARKED", do="post_sem_sync", qemu="multifd_recv_thread"),
    row("wait_sem_sync", "PARKED", "TOP", when=["released"], do="take_sem_sync",
        qemu="multifd_recv_thread"),
]


# -- guards ------------------------------------------------------------------------------

def exiting(cfg, s, t, c):
    return s.recv_exiting == 1


def _next(s, t):
    socket = s.sockets[t]
    return socket[0] if socket else None


def page_packet_next(cfg, s, t, c):
    packet = _next(s, t)
    return packet is not None and packet_has_page(packet)


def sync_packet_next(cfg, s, t, c):
    packet = _next(s, t)
    return packet is not None and packet_is_sync(packet) and not packet_has_page(packet)


def end_of_stream(cfg, s, t, c):
    """The source shut the channel down (EOF after the data), or the destination did."""
    return _next(s, t) == EOF_PACKET or s.sock_shut[t] == 1


def sync_flag_held(cfg, s, t, c):
    return packet_is_sync(s.recv_packet[t])


def released(cfg, s, t, c):
    return s.recv_sem_sync[t] > 0


# -- effects -----------------------------------------------------------------------------

def take_packet(cfg, s, t, c):
    return s.replace(recv_packet=put(s.recv_packet, t, s.sockets[t][0]),
                      sockets=put(s.sockets, t, s.sockets[t][1:]))


def write_guest_page(cfg, s, t, c):
    """The page lands in guest RAM; a round-k copy over a later one is recorded."""
    packet = s.recv_packet[t]
    page, version = packet_page(packet), packet_version(packet)
    stale = s.stale_landed or s.ram[page] > version
    keep = packet if packet_is_sync(packet) else NO_PACKET
    return s.replace(ram=put(s.ram, page, version), recv_packet=put(s.recv_packet, t, keep),
                      stale_landed=int(stale))


def post_sem_sync(cfg, s, t, c):
    return s.replace(sem_sync=s.sem_sync + 1, recv_packet=put(s.recv_packet, t, NO_PACKET))


def take_sem_sync(cfg, s, t, c):
    return s.replace(recv_sem_sync=add(s.recv_sem_sync, t, -1))


ROLE = Role(name="recv", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=dict(globals()), pc_field="recv_pc", per_channel=True,
            thread="recv[{t}]",
            waits=WAITS)
