"""Read and damage a mapped-ram migration image (docs/real-qemu.md, The P1 image).

After the `MEM_SIZE` record (be64 total RAM | flags), each RAM block is:
name length byte, name, be64 used length, then a packed big-endian
`MappedRamHeader {u32 version; u64 page_size, bitmap_offset, pages_offset}`.
The next block's record starts where this block's pages end
(`pages_offset + length`).  P1's pure-file reproducer sets the *last* block's
`pages_offset` to 1<<63, so the last read job's `preadv` fails with EINVAL.
"""

import struct
from typing import NamedTuple

__all__ = ["Block", "blocks", "damage_block", "damage_last_block", "ImageError"]

HEADER = struct.Struct(">IQQQ")
NEGATIVE = 1 << 63


class ImageError(Exception):
    """The file is not a mapped-ram image this reader understands."""


class Block(NamedTuple):
    name: str
    length: int
    header_at: int       # file offset of the MappedRamHeader
    version: int
    page_size: int
    bitmap_offset: int
    pages_offset: int


def blocks(path, first=b"\x06pc.ram"):
    """The RAM blocks of a mapped-ram image, in file order."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        at = head.find(first)
        if at < 8:
            raise ImageError(f"{path}: no {first[1:].decode()} block record near the start")
        total = struct.unpack(">Q", head[at - 8:at])[0] & ~0xFFF
        out, seen, pos = [], 0, at
        while seen < total:
            out.append(_block(f, pos))
            seen += out[-1].length
            pos = out[-1].pages_offset + out[-1].length
        return out


def _block(f, pos):
    f.seek(pos)
    size = f.read(1)
    if not size:
        raise ImageError(f"block record past the end of the file at 0x{pos:x}")
    name = f.read(size[0]).decode("latin-1")
    length = struct.unpack(">Q", f.read(8))[0]
    header_at = pos + 1 + size[0] + 8
    version, page_size, bitmap, pages = HEADER.unpack(f.read(HEADER.size))
    if version != 1 or page_size != 4096:
        raise ImageError(f"block {name!r}: unexpected MappedRamHeader v{version} ps {page_size}")
    return Block(name, length, header_at, version, page_size, bitmap, pages)


def damage_block(path, index):
    """Set the pages_offset of block `index` (in file order) to 1<<63 in place; return
    that block."""
    block = blocks(path)[index]
    with open(path, "r+b") as f:
        f.seek(block.header_at + 4 + 8 + 8)
        f.write(struct.pack(">Q", NEGATIVE))
    return block


def damage_last_block(path):
    """Set the last block's pages_offset to 1<<63 in place; return that block."""
    return damage_block(path, -1)
