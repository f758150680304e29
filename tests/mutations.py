"""Alterations of real trace logs that the trace validator must reject.

Each takes the source and destination logs as lists of lines and returns
(src, dst, side, line): the altered logs and where (1-based) the first
unexplained event is expected; line None means "on the named side, at the
migration or load thread", for alterations whose first symptom is a wait.
"""

import re

__all__ = ["remove_sync", "recv_while_parked", "recv_line_moved_up", "missing_wait",
           "coalesce_sync", "stamp"]

SYNC_SEND = re.compile(r":multifd_send(_fill)? channel (\d+) packet_num (\d+) .*flags 0x1 ")
SYNC_RECV = r":multifd_recv(_unfill)? channel {ch} packet_num {num} .*flags 0x1 "


def stamp(line):
    """(tid, microseconds) of a trace line."""
    tid, rest = line.split("@", 1)
    sec, usec = rest.split(":", 1)[0].split(".")
    return tid, int(sec) * 1_000_000 + int(usec)


def _restamp(line, tid, ts):
    return f"{tid}@{ts // 1_000_000}.{ts % 1_000_000:06d}:{line.split(':', 1)[1]}"


def _sync_lines(src, k):
    hits = [i for i, line in enumerate(src) if SYNC_SEND.search(line)]
    i = hits[k]
    _, ch, num = SYNC_SEND.search(src[i]).groups()
    return i, ch, num


def _recv_sync(dst, ch, num):
    pattern = re.compile(SYNC_RECV.format(ch=ch, num=num))
    return next(j for j, line in enumerate(dst) if pattern.search(line))


def remove_sync(src, dst, k, sides):
    """Drop the k-th SYNC packet from the source log, the destination log, or both.

    Returns the channel and the destination line that read it instead of a place.
    """
    i, ch, num = _sync_lines(src, k)
    j = _recv_sync(dst, ch, num)
    new_src = src[:i] + src[i + 1:] if "src" in sides else list(src)
    new_dst = dst[:j] + dst[j + 1:] if "dst" in sides else list(dst)
    return new_src, new_dst, int(ch), j + 1


def recv_while_parked(src, dst, k):
    """Move a recv thread's packet after its k-th SYNC to 1 us after that SYNC."""
    i, ch, num = _sync_lines(src, k)
    j = _recv_sync(dst, ch, num)
    tid, ts = stamp(dst[j])
    nxt = next(m for m in range(j + 1, len(dst)) if dst[m].startswith(tid + "@")
               and ":multifd_recv" in dst[m] and "packet_num" in dst[m])
    moved = _restamp(dst[nxt], tid, ts + 1)
    new_dst = dst[:nxt] + dst[nxt + 1:]
    new_dst.insert(j + 1, moved)
    return list(src), new_dst, "dst", j + 2


def missing_wait(src, dst, k, side):
    """Drop the k-th sync wait line of the migration (src) or load (dst) thread."""
    lines = src if side == "src" else dst
    name = "multifd_send_sync_main_wait" if side == "src" else "multifd_recv_sync_main_wait"
    waits = [i for i, line in enumerate(lines) if f":{name} " in line and not line.endswith(" 0")]
    w = waits[k]
    tid, _ = stamp(lines[w])
    altered = lines[:w] + lines[w + 1:]
    nxt = next(m for m in range(w, len(altered)) if altered[m].startswith(tid + "@"))
    if side == "src":
        return altered, list(dst), "src", nxt + 1
    return list(src), altered, "dst", nxt + 1


def coalesce_sync(src, dst, k):
    """10.0 made to look like 7.2: pages ride in the k-th SYNC packet, then an empty one."""
    i, ch, num = _sync_lines(src, k)
    tid, ts = stamp(src[i])
    fill = _restamp(f"x:multifd_send_ram_fill channel {ch} normal pages 128 zero pages 0", tid, ts)
    trailer = _restamp(f"x:multifd_send_fill channel {ch} packet_num {num} flags 0x0 "
                       f"next packet size 524288", tid, ts)
    return src[:i] + [fill, src[i], trailer] + src[i + 1:], list(dst), "src", i + 2


def recv_line_moved_up(src, dst, k):
    """Move a recv thread's packet line (stamp unchanged) to just before its k-th SYNC
    line in the file: in the thread's own order, which is authoritative, it is now read
    before the SYNC packet that the source wrote first."""
    i, ch, num = _sync_lines(src, k)
    j = _recv_sync(dst, ch, num)
    tid, _ = stamp(dst[j])
    nxt = next(m for m in range(j + 1, len(dst)) if dst[m].startswith(tid + "@")
               and ":multifd_recv" in dst[m] and "packet_num" in dst[m])
    moved = dst[nxt]
    new_dst = dst[:nxt] + dst[nxt + 1:]
    new_dst.insert(j, moved)
    return list(src), new_dst, "dst", j + 1
