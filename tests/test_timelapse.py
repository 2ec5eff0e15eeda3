"""progress.gif as a bounded timelapse: which frames it keeps, valid files, cheap appends, resume."""

from __future__ import annotations

import numpy as np
import pytest

import ganctl.training.timelapse as timelapse
from ganctl.images import read_frames, write_gif, write_png
from ganctl.training.timelapse import Timelapse, kept_indices


def _picture(epoch: int, shape=(23, 31)) -> np.ndarray:
    """A distinct picture per epoch, using all gray levels (a noisy grid is the hard case)."""
    return np.random.default_rng(epoch).integers(0, 256, shape, dtype=np.uint8)


def _add(tl: Timelapse, samples, epoch: int, shape=(23, 31)) -> list[int]:
    picture = _picture(epoch, shape)
    write_png(samples / f"epoch_{epoch:04d}.png", picture)  # as SampleGrid does, before the GIF
    return tl.add(epoch, picture)


@pytest.mark.parametrize("max_frames", [2, 3, 8, 200])
def test_kept_indices_first_last_bounded_and_even(max_frames):
    previous: set[int] = set()
    for n in range(1, 1200):
        picks = kept_indices(n, max_frames)
        assert picks[0] == 0 and picks[-1] == n - 1 and len(picks) <= max_frames
        assert picks == sorted(set(picks))
        gaps = np.diff(picks)
        if len(gaps) > 1:  # evenly spaced, the gap to the newest frame no longer than the others
            assert len(set(gaps[:-1])) == 1 and gaps[-1] <= gaps[0]
        # Thinning only drops frames: each set is the last one (minus its newest) plus the new one.
        assert set(picks[:-1]) <= previous
        previous = set(picks)
    assert kept_indices(0, max_frames) == []
    assert kept_indices(max_frames, max_frames) == list(range(max_frames))


def test_kept_indices_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        kept_indices(5, 1)


def test_thinning_keeps_first_and_last_in_a_valid_bounded_gif(tmp_path):
    samples, path = tmp_path / "samples", tmp_path / "progress.gif"
    tl = Timelapse(path, samples, fps=4, max_frames=6)
    for epoch in range(1, 41):
        shown = _add(tl, samples, epoch)
        frames = read_frames(path)  # a complete, readable file after every append
        assert len(frames) == len(shown) <= 6
        assert shown[0] == 1 and shown[-1] == epoch
    assert shown == [1, 9, 17, 25, 33, 40]  # every 8th grid, and the newest
    for frame, epoch in zip(frames, shown, strict=True):  # grays round-trip exactly, in order
        assert np.array_equal(frame[..., 0], _picture(epoch))
    assert len(list(samples.glob("epoch_*.png"))) == 40  # every grid stays in samples/
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.gif", "samples"]  # no temp


def test_each_append_encodes_one_frame_however_long_the_run(tmp_path, monkeypatch):
    encoded = []
    real = timelapse.encode_frame
    monkeypatch.setattr(timelapse, "encode_frame",
                        lambda picture, epoch, delay: encoded.append(epoch) or real(picture, epoch,
                                                                                    delay))
    samples = tmp_path / "samples"
    tl = Timelapse(tmp_path / "p.gif", samples, max_frames=8)
    for epoch in range(1, 301):
        _add(tl, samples, epoch)
    assert encoded == list(range(1, 301))  # thinning re-encodes nothing
    assert len(tl.blocks) <= 8  # and holds no more than the frames shown
    size = (tmp_path / "p.gif").stat().st_size
    assert size < 9 * len(tl.blocks[300]) + 100  # header, at most 8 frames, trailer


def test_resume_across_a_thinning_boundary_gives_the_same_file(tmp_path):
    straight = Timelapse(tmp_path / "a.gif", tmp_path / "sa", max_frames=4)
    for epoch in range(1, 12):
        _add(straight, tmp_path / "sa", epoch)
    first = Timelapse(tmp_path / "b.gif", tmp_path / "sb", max_frames=4)
    for epoch in range(1, 7):  # stride 2 after 5 frames
        _add(first, tmp_path / "sb", epoch)
    second = Timelapse(tmp_path / "b.gif", tmp_path / "sb", max_frames=4)  # a new session
    assert sorted(second.blocks) == [1, 3, 5, 6]
    for epoch in range(7, 12):  # stride 4 after 8
        _add(second, tmp_path / "sb", epoch)
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    assert len(read_frames(tmp_path / "b.gif")) == 4


@pytest.mark.parametrize("damage", ["missing", "truncated", "foreign"])
def test_a_lost_or_foreign_gif_is_rebuilt_from_the_pngs(tmp_path, damage):
    samples, path = tmp_path / "samples", tmp_path / "progress.gif"
    tl = Timelapse(path, samples, max_frames=5)
    for epoch in range(1, 9):
        _add(tl, samples, epoch)
    good = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:  # a plain GIF of the same grids, as ganctl wrote before frames were labelled
        write_gif(path, [_picture(e) for e in range(1, 9)], fps=4)
    resumed = Timelapse(path, samples, max_frames=5)
    assert resumed.blocks == {}
    _add(resumed, samples, 9)
    straight = Timelapse(tmp_path / "s.gif", tmp_path / "s", max_frames=5)
    for epoch in range(1, 10):
        _add(straight, tmp_path / "s", epoch)
    assert path.read_bytes() == (tmp_path / "s.gif").read_bytes()


def test_colour_frames_and_a_new_grid_size(tmp_path):
    samples, path = tmp_path / "samples", tmp_path / "progress.gif"
    tl = Timelapse(path, samples, max_frames=5)
    for epoch in range(1, 4):
        _add(tl, samples, epoch, shape=(20, 24, 3))
    frames = read_frames(path)
    assert frames.shape == (3, 20, 24, 3)
    # 256 colours per frame (its own table): close to the picture, not exact
    assert np.abs(frames[-1].astype(int) - _picture(3, (20, 24, 3))).mean() < 20
    # a grid of another size (the run was restarted with another --sample-grid) starts over
    assert _add(tl, samples, 4, shape=(10, 10, 3)) == [4]
    assert read_frames(path).shape == (1, 10, 10, 3)
