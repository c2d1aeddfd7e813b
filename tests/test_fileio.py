"""Atomic folders: an interrupted publish leaves the previous folder whole, and the next one cleans up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from animal_audio.fileio import atomic_dir, recover_dir, sweep_temp_dirs


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


def test_a_failed_second_rename_puts_the_previous_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    real_replace = os.replace
    failed: list[str] = []

    def fail_on_second_rename(src, dst):
        if Path(dst) == target and not failed:  # the new folder's rename; putting the old back works
            failed.append(src)
            raise OSError("no space left")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_second_rename)
    with pytest.raises(OSError, match="no space"), atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("new")
    assert (target / "config.json").read_text() == "old"  # in place, not aside until the next call
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


#: A child process that publishes sys.argv[1] with atomic_dir and dies between the two renames.
DIE_BETWEEN_RENAMES = """
import os, sys
from pathlib import Path
from animal_audio.fileio import atomic_dir

target, real_replace = Path(sys.argv[1]), os.replace

def die_on_second_rename(src, dst):
    if Path(dst) == target:
        os._exit(9)
    real_replace(src, dst)

os.replace = die_on_second_rename
with atomic_dir(target) as tmp:
    (tmp / "config.json").write_text("new")
"""

#: A child process that fills a temp folder for sys.argv[1], then waits for a line on stdin.
WRITE_AND_WAIT = """
import sys
from animal_audio.fileio import atomic_dir

with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "config.json").write_text("from the child")
    print("writing", flush=True)
    sys.stdin.readline()
"""


def child(code: str, target: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, str(target)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    assert child(DIE_BETWEEN_RENAMES, target).wait(timeout=60) == 9
    assert not target.exists() and len(list(tmp_path.iterdir())) == 2  # the old copy aside, a temp folder

    recover_dir(target)
    assert (target / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_recovery_leaves_the_temp_folders_of_running_writers_alone(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    make_model(target, "old")
    writer = child(WRITE_AND_WAIT, target)
    try:
        assert writer.stdout.readline() == "writing\n"
        with atomic_dir(target) as ours:
            (ours / "config.json").write_text("ours")
            recover_dir(target)  # e.g. a third writer starting
            sweep_temp_dirs(tmp_path)
            assert ours.is_dir() and len(list(tmp_path.glob(".checkpoint.*"))) == 2
        assert (target / "config.json").read_text() == "ours"
    finally:
        writer.communicate("go on\n", timeout=60)
    assert writer.returncode == 0
    assert (target / "config.json").read_text() == "from the child"  # the last to finish wins
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
