"""File helpers: the one sha256 of a file, and of any bytes and text."""

from __future__ import annotations

import hashlib

import numpy as np

from ganctl.fsutil import file_sha256, sha256_hex


def test_file_sha256_known_answer_and_across_blocks(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # FIPS 180-2's example
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data = bytes(range(256)) * 9000  # 2.2 MiB: read in three blocks
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_sha256_hex_hashes_its_parts_in_order():
    # FIPS 180-2's known answer for "abc".
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert sha256_hex("ab", b"c") == sha256_hex("abc")
    assert sha256_hex("(2, 2, 3)", memoryview(pixels).cast("B")) == \
        hashlib.sha256(b"(2, 2, 3)" + pixels.tobytes()).hexdigest()
    assert sha256_hex("ab") != sha256_hex("ba")
