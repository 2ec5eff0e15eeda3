"""File helpers: the one sha256 of a file."""

from __future__ import annotations

import hashlib

from ganctl.fsutil import file_sha256


def test_file_sha256_known_answer_and_across_blocks(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # FIPS 180-2's example
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data = bytes(range(256)) * 9000  # 2.2 MiB: read in three blocks
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
