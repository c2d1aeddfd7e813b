"""Atomic folders: an interrupted publish leaves the previous folder whole, and the next one cleans up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from animal_audio.fileio import atomic_dir, recover_dir


def make_model(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(text)


def test_atomic_dir_replaces_the_folder_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    (target / "stale.bin").write_text("from the old model")
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        (tmp / "config.json").write_text("new")
        assert (target / "config.json").read_text() == "old"  # untouched while the new one is written
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert (target / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == 0o777 & ~_umask(), oct(mode)  # like a plain mkdir, not mkdtemp's 0700


def test_a_failure_while_writing_keeps_the_previous_folder(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("half")
        raise RuntimeError("disk full")
    assert (target / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_crash_between_the_two_renames_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    real_replace = os.replace

    def crash_on_second_rename(src, dst):
        if Path(dst) == target:
            raise KeyboardInterrupt  # the process dies after the old folder stepped aside
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second_rename)
    with pytest.raises(KeyboardInterrupt), atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("new")
    monkeypatch.setattr(os, "replace", real_replace)
    assert not target.exists()
    (tmp_path / ".checkpoint.abc.newdir").mkdir()  # a temp folder a killed process left behind

    recover_dir(target)
    assert (target / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_recover_drops_the_old_copy_when_the_new_folder_is_in_place(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "new")
    make_model(tmp_path / ".checkpoint.old", "old")  # killed just before the old copy was removed
    with atomic_dir(target) as tmp:  # the next publish recovers first
        (tmp / "config.json").write_text("newer")
    assert (target / "config.json").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
