"""Inspect a SQLite write-ahead log after an unclean shutdown, before SQLite recovers it.

SQLite never loads a damaged WAL frame: each frame carries the salts of its WAL generation and a checksum
chained over every frame before it, and recovery stops at the first frame that fails either. What it does
not do is tell anyone, and two cases must be told apart:

* a torn tail: frames after the last commit frame, or a partial frame at the end of the file. They belong
  to a transaction whose commit never reached the disk, so it was never acknowledged (AddItems answers only
  after the commit's fsync). Dropping them is right; ``inspect`` reports them.
* damage before the end: a frame that fails its checksum, followed by intact frames of the same
  generation that commit a later transaction. SQLite would silently drop those committed, acknowledged
  transactions. ``inspect`` reports ``committed_after_damage`` and the collection refuses to open. (Damage
  inside the last transaction only is a torn tail: until its commit's fsync returns, the disk may keep a
  transaction's frames in any order.)

Telling them apart works because each frame can be checked against the checksum its predecessor stores,
independently of whether the predecessor itself was intact. Format: https://www.sqlite.org/fileformat.html#walformat
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADER = 32
FRAME_HEADER = 24
MAGIC_LE, MAGIC_BE = 0x377F0682, 0x377F0683
MASK = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class WalReport:
    frames: int = 0  # whole frames of the current generation that SQLite will apply (up to the last commit)
    torn_frames: int = 0  # frames after the last good commit: never committed, dropped by SQLite
    torn_bytes: int = 0  # a partial frame at the end of the file
    header_invalid: bool = False  # the header fails its checksum: SQLite ignores the whole file
    committed_after_damage: int = 0  # intact commit frames after a damaged frame: acknowledged data SQLite would drop
    first_damaged_frame: int = -1

    @property
    def torn(self) -> bool:
        return bool(self.torn_frames or self.torn_bytes)

    def describe(self) -> str:
        return (f"{self.frames} committed frames; {self.torn_frames} frames and {self.torn_bytes} bytes after the last "
                f"commit; damaged frame {self.first_damaged_frame}; {self.committed_after_damage} commits after it; "
                f"header {'invalid' if self.header_invalid else 'ok'}")


@functools.lru_cache(maxsize=8)
def _powers(m: int) -> np.ndarray:
    """A^j mod 2^32 for j = 0..m, with A = [[1, 1], [1, 2]]: one step of SQLite's checksum is
    (s1, s2) <- A (s1, s2) + (x0, x0 + x1), so m steps are a sum of matrix powers (computed vectorised)."""
    out = np.empty((m + 1, 2, 2), dtype=np.uint64)
    a, b, c, d = 1, 0, 0, 1
    for j in range(m + 1):
        out[j] = ((a, b), (c, d))
        a, b, c, d = (a + c) & 0xFFFFFFFF, (b + d) & 0xFFFFFFFF, (a + 2 * c) & 0xFFFFFFFF, (b + 2 * d) & 0xFFFFFFFF
    return out


def checksum(data: bytes, s: tuple[int, int], big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes) continued from ``s``."""
    w = np.frombuffer(data, dtype=">u4" if big_endian else "<u4").astype(np.uint64)
    x0, x1 = w[0::2], w[1::2]
    b = np.stack([x0, (x0 + x1) & MASK], axis=1)  # (m, 2)
    m = len(b)
    P = _powers(m)
    # uint64 products of 32-bit values cannot overflow, and wrapping sums keep their value mod 2^32.
    acc = np.einsum("ijk,ik->j", P[m - 1 :: -1] if m else P[:0], b) + P[m] @ np.array(s, dtype=np.uint64)
    acc &= MASK
    return int(acc[0]), int(acc[1])


def inspect(path: Path) -> WalReport:
    """Read ``path`` (an ``-wal`` file) frame by frame; it is not modified."""
    if not path.exists() or path.stat().st_size == 0:
        return WalReport()
    with open(path, "rb") as f:
        header = f.read(HEADER)
        if len(header) < HEADER:
            return WalReport(torn_bytes=len(header))
        magic, _version, page_size, _ckpt, salt1, salt2, c1, c2 = struct.unpack(">8I", header)
        if magic not in (MAGIC_LE, MAGIC_BE):
            return WalReport(header_invalid=True)
        big_endian = magic == MAGIC_BE
        page_size = 65536 if page_size == 1 else page_size
        if checksum(header[:24], (0, 0), big_endian) != (c1, c2):
            return WalReport(header_invalid=True)
        prev = (c1, c2)
        frames = last_commit = 0  # the prefix SQLite applies, and its last commit frame
        end = -1  # index of the first frame outside that prefix
        ours_after = commits_after = 0
        index = 0
        while True:
            frame = f.read(FRAME_HEADER + page_size)
            if len(frame) < FRAME_HEADER + page_size:
                torn_bytes = len(frame)
                break
            pgno, commit, fs1, fs2, fc1, fc2 = struct.unpack(">6I", frame[:FRAME_HEADER])
            ours = (fs1, fs2) == (salt1, salt2)  # other salts: stale frames of an earlier generation
            intact = ours and pgno != 0 and checksum(frame[:8] + frame[FRAME_HEADER:], prev, big_endian) == (fc1, fc2)
            if end < 0 and intact:
                frames += 1
                last_commit = frames if commit else last_commit
            else:
                end = index if end < 0 else end
                ours_after += ours
                commits_after += bool(intact and commit)
            prev = (fc1, fc2)
            index += 1
    # The first commit after the damage closes the damaged transaction itself: until its commit's fsync
    # returns, the disk may keep a transaction's frames in any order, so that one may be a torn tail. A
    # commit after it proves the damaged one was durable, hence acknowledged.
    return WalReport(frames=last_commit, torn_frames=frames - last_commit + ours_after, torn_bytes=torn_bytes,
                     committed_after_damage=max(0, commits_after - 1), first_damaged_frame=end if ours_after else -1)
