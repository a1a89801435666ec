"""Compressed, verified copies of one file in an object store, shared by the week archive and the
backups: zstd (with its frame checksum) on the way up, then the stored object read back and its size and
sha256 compared with what was sent; on the way down both the compressed and the decompressed sha256 are
checked before the file is put in place (fsynced, renamed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgspec
import zstandard

from taptrade.archive.objectstore import ObjectStore, file_chunks, sha256_of


class ArchiveError(Exception):
    """An upload or download could not be completed or verified; nothing local was changed."""


class Packed(msgspec.Struct, frozen=True):
    """What a stored object must be: its own size and sha256, and the original file's."""

    size_bytes: int
    sha256: str
    raw_size_bytes: int
    raw_sha256: str


def upload_packed(store: ObjectStore, name: str, path: Path, *, level: int, scratch_dir: Path) -> Packed:
    raw_sha256 = sha256_of(file_chunks(path))
    raw_size = path.stat().st_size
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        packed = Path(scratch) / name
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        with path.open("rb") as src, packed.open("wb") as dst:
            compressor.copy_stream(src, dst, size=raw_size)
        size = packed.stat().st_size
        sha256 = sha256_of(file_chunks(packed))
        store.put_file(name, packed)
    stored_size = store.size(name)
    stored_sha256 = sha256_of(store.chunks(name))
    if (stored_size, stored_sha256) != (size, sha256):
        raise ArchiveError(
            f"{name}: the store holds {stored_size} bytes with sha256 {stored_sha256},"
            f" uploaded {size} bytes with sha256 {sha256}"
        )
    return Packed(size, sha256, raw_size, raw_sha256)


def download_packed(store: ObjectStore, name: str, expected: Packed, dest: Path) -> None:
    """Put the original file back at `dest` (replacing it only once everything checked out)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        packed = Path(scratch) / name
        store.get_file(name, packed)
        if sha256_of(file_chunks(packed)) != expected.sha256:
            raise ArchiveError(f"{name}: the downloaded object does not match its recorded sha256")
        unpacked = Path(scratch) / dest.name
        with packed.open("rb") as src, unpacked.open("wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        if sha256_of(file_chunks(unpacked)) != expected.raw_sha256:
            raise ArchiveError(f"{name}: the unpacked file does not match its recorded raw sha256")
        check_opens(unpacked)
        os.replace(unpacked, dest)


def check_opens(path: Path) -> None:
    """SQLite's own structural check on a file about to be trusted."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    if result != "ok":
        raise ArchiveError(f"{path.name}: SQLite integrity_check says {result}")
