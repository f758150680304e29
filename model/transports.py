"""The transports: the main migration stream and the multifd channel sockets.

Main stream (QEMUFile to_dst_file): the RAM records the migration thread writes with
qemu_put_be64() in ram.c, read in order by ram_load_precopy(). Only the records the
synchronization depends on are modelled (docs/protocol.md, Records and packets);
QEMU_VM_EOF ends the device-state stream after ram_save_complete()
(qemu_savevm_state_complete_precopy()).

Channel sockets: one FIFO per multifd channel, written by multifd_send_thread() with
qio_channel_writev_full_all() and read by multifd_recv_thread() with
qio_channel_read_all_eof(). A packet is a small integer:

    bit 0        MULTIFD_FLAG_SYNC
    bits 1-4     version (the dirty round) of the page carried
    bits 5..     page number + 1 (0: the packet carries no page)

EOF_PACKET stands for the end of stream the source's qio_channel_shutdown() causes: the
reader sees it after every packet written before it.
"""

__all__ = [
    "MEM_SIZE", "EOS", "MULTIFD_FLUSH", "VM_EOF", "STREAM_EOF", "RECORD_NAMES",
    "SYNC_FLAG", "EOF_PACKET", "page_packet", "packet_page", "packet_version",
    "packet_has_page", "packet_is_sync", "packet_name",
]

# RAM_SAVE_FLAG_* records on the main stream (values as in ram.c).
MEM_SIZE = 0x04         # RAM_SAVE_FLAG_MEM_SIZE: the block list (ram_save_setup)
EOS = 0x10              # RAM_SAVE_FLAG_EOS: end of every RAM section
MULTIFD_FLUSH = 0x200   # RAM_SAVE_FLAG_MULTIFD_FLUSH: after each round's sync
VM_EOF = 0x1000         # QEMU_VM_EOF (savevm.c), after the last section; not a RAM flag
STREAM_EOF = -1         # the source closed the stream early (qemu_fclose after a failure)

RECORD_NAMES = {MEM_SIZE: "MEM_SIZE", EOS: "EOS", MULTIFD_FLUSH: "MULTIFD_FLUSH",
                VM_EOF: "VM_EOF", STREAM_EOF: "STREAM_EOF"}

SYNC_FLAG = 1           # MULTIFD_FLAG_SYNC
EOF_PACKET = -2         # end of stream after a shutdown of the sending side


def page_packet(page: int, version: int, sync: bool = False) -> int:
    """A packet carrying `page` at dirty round `version`, optionally with the SYNC flag.

    >>> packet_page(page_packet(3, 2)), packet_version(page_packet(3, 2))
    (3, 2)
    """
    return ((page + 1) << 5) | (version << 1) | (SYNC_FLAG if sync else 0)


def packet_has_page(packet: int) -> bool:
    return packet >= 0 and packet >> 5 > 0


def packet_is_sync(packet: int) -> bool:
    return packet >= 0 and bool(packet & SYNC_FLAG)


def packet_page(packet: int) -> int:
    return (packet >> 5) - 1


def packet_version(packet: int) -> int:
    return (packet >> 1) & 0xF


def packet_name(packet: int) -> str:
    """How a packet reads in a counterexample.

    >>> packet_name(page_packet(0, 1)), packet_name(SYNC_FLAG), packet_name(EOF_PACKET)
    ('PAGE(p0,r1)', 'SYNC', 'EOF')
    """
    if packet == EOF_PACKET:
        return "EOF"
    parts = []
    if packet_has_page(packet) and packet_version(packet) == 0:
        parts.append(f"READ_JOB(p{packet_page(packet)})")   # a mapped-ram read job
    elif packet_has_page(packet):
        parts.append(f"PAGE(p{packet_page(packet)},r{packet_version(packet)})")
    if packet_is_sync(packet):
        parts.append("SYNC")
    return "+".join(parts) or "EMPTY"
