"""ESC-50 preparation, fold splits and the resumable, verified download."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from animal_audio import DatasetError, esc50
from animal_audio.errors import CancelledError
from animal_audio.labels import CLASSES

REPO = Path(__file__).resolve().parents[1]


def make_subset(esc50_dir: Path, dest: Path, per_class_fold: int = 1) -> Path:
    """An ESC-50-shaped folder holding a few real clips (copied, so tests may damage them)."""
    (dest / "meta").mkdir(parents=True)
    (dest / "audio").mkdir()
    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    keep = meta[meta.target < 10].sort_values("filename").groupby(["target", "fold"]).head(per_class_fold)
    for name in keep.filename:
        (dest / "audio" / name).write_bytes((esc50_dir / "audio" / name).read_bytes())
    # Keep the non-animal rows too: prepare() must filter them out as on the full release.
    pd.concat([keep, meta[meta.target >= 10].head(20)]).to_csv(dest / "meta" / "esc50.csv", index=False)
    return dest


@pytest.fixture
def subset(esc50_dir: Path, tmp_path: Path) -> Path:
    return make_subset(esc50_dir, tmp_path / "esc50")


def test_prepare_all_400_real_clips(esc50_dir: Path, tmp_path: Path) -> None:
    result = esc50.prepare(esc50_dir, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "animals.csv")
    assert len(table) == 400 and result.converted == 400
    assert set(table.label) == set(CLASSES)
    assert (table.groupby("label").size() == 40).all()
    assert (table.groupby(["label", "fold"]).size() == 8).all()
    assert table.groupby("split").size().to_dict() == {"test": 80, "train": 240, "validation": 80}
    assert (table.target == [CLASSES.index(label) for label in table.label]).all()
    for path in table.path[::37]:
        info = sf.info(tmp_path / "out" / path)
        assert (info.samplerate, info.channels, info.frames) == (16_000, 1, 80_000)


def test_prepare_is_idempotent(subset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = esc50.prepare(subset, out)
    stamp = (out / "animals.csv").stat().st_mtime_ns
    second = esc50.prepare(subset, out)
    assert first.converted == 50 and second.converted == 0 and second.reused == 50
    assert (out / "animals.csv").stat().st_mtime_ns == stamp


def test_interrupted_prepare_resumes_without_corrupt_files(subset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    calls = iter(range(1000))
    with pytest.raises(CancelledError, match="run again to resume"):
        esc50.prepare(subset, out, cancel=lambda: next(calls) >= 20)
    assert not (out / "animals.csv").exists()
    assert len(list((out / "audio").glob("*.wav"))) == 20
    result = esc50.prepare(subset, out)
    assert (result.converted, result.reused) == (30, 20)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")], "temp files left behind"


def test_missing_and_corrupt_clips_are_reported_by_name(subset: Path, tmp_path: Path) -> None:
    clips = sorted((subset / "audio").iterdir())
    clips[0].unlink()
    clips[1].write_bytes(b"RIFF garbage")
    with pytest.raises(DatasetError) as error:
        esc50.prepare(subset, tmp_path / "out")
    message = str(error.value)
    assert clips[0].name in message and "missing" in message
    assert clips[1].name in message and "unreadable" in message
    assert "--allow-missing" in message
    result = esc50.prepare(subset, tmp_path / "out", allow_missing=True)
    assert len(result.table) == 48 and len(result.problems) == 2


def test_missing_metadata_says_where_to_point(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--download"):
        esc50.prepare(tmp_path, tmp_path / "out")


def test_fold_split_and_cross_validation(esc50_dir: Path) -> None:
    table = esc50.read_metadata(esc50_dir)
    split = esc50.fold_split(table)
    assert (len(split.train), len(split.validation), len(split.test)) == (240, 80, 80)
    assert set(split.test.fold) == {5} and set(split.validation.fold) == {4}
    splits = list(esc50.cross_validation_splits(table))
    assert sorted(int(s.test.fold.iloc[0]) for s in splits) == [1, 2, 3, 4, 5]
    for s in splits:
        folds = [set(s.train.fold), set(s.validation.fold), set(s.test.fold)]
        assert not (folds[0] & folds[1] or folds[0] & folds[2] or folds[1] & folds[2])
        assert len(s.train) + len(s.validation) + len(s.test) == 400
    with pytest.raises(DatasetError, match="overlap"):
        esc50.fold_split(table, train=(1, 2), validation=(2,), test=(5,))


# --------------------------------------------------------------------------- download


def build_archive(esc50_dir: Path, path: Path) -> bytes:
    """A small zip with the release's layout (ESC-50-master/meta, /audio)."""
    meta = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    names = meta[meta.target < 10].sort_values("filename").filename[:3]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ESC-50-master/meta/esc50.csv", meta[meta.filename.isin(names)].to_csv(index=False))
        for name in names:
            zf.write(esc50_dir / "audio" / name, f"ESC-50-master/audio/{name}")
    return path.read_bytes()


class RangeServer:
    """A loopback HTTP server that serves one file and honours Range requests."""

    def __init__(self, payload: bytes, honour_range: bool = True) -> None:
        self.payload, self.honour_range, self.ranges = payload, honour_range, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                start = 0
                header = self.headers.get("Range")
                server.ranges.append(header)
                if header and server.honour_range:
                    start = int(header.split("=")[1].split("-")[0])
                    self.send_response(206)
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/ESC-50.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.mark.parametrize("honour_range", [True, False])
def test_download_resumes_verifies_and_extracts(esc50_dir: Path, tmp_path: Path, honour_range: bool) -> None:
    payload = build_archive(esc50_dir, tmp_path / "src.zip")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "ESC-50.zip.part").write_bytes(payload[: len(payload) // 2])  # an interrupted try
    server = RangeServer(payload, honour_range)
    try:
        events = []
        root = esc50.download(
            dest, url=server.url, sha256=hashlib.sha256(payload).hexdigest(), progress=events.append
        )
    finally:
        server.close()
    assert server.ranges == [f"bytes={len(payload) // 2}-"]
    assert root == dest / "ESC-50-master"
    assert len(list((root / "audio").glob("*.wav"))) == 3 and (root / "meta" / "esc50.csv").is_file()
    assert sorted(os.listdir(dest)) == ["ESC-50-master"], "archive and temp folders are cleaned up"
    assert events[-1].stage == "extract" and any(e.stage == "download" for e in events)
    assert len(esc50.prepare(root, tmp_path / "out").table) == 3


def test_a_cancelled_download_stops_between_chunks_and_resumes(esc50_dir: Path, tmp_path: Path) -> None:
    """Cancel (warm start's job) did nothing until the whole archive was in; the chunks it kept resume."""
    payload = build_archive(esc50_dir, tmp_path / "src.zip")
    assert len(payload) > 1 << 20, "at least two chunks"
    server = RangeServer(payload)
    try:
        events = []
        with pytest.raises(CancelledError, match="ESC-50 download"):
            esc50.download(tmp_path, url=server.url, progress=events.append, cancel=lambda: bool(events))
        assert [e.stage for e in events] == ["download"]
        assert (tmp_path / "ESC-50.zip.part").stat().st_size == 1 << 20
        with pytest.raises(CancelledError):  # asked before it starts: nothing is fetched
            esc50.download(tmp_path, url=server.url, cancel=lambda: True)
        root = esc50.download(tmp_path, url=server.url)
    finally:
        server.close()
    assert server.ranges == [None, f"bytes={1 << 20}-"]
    assert len(list((root / "audio").glob("*.wav"))) == 3


def test_download_rejects_a_corrupt_or_wrong_archive(esc50_dir: Path, tmp_path: Path) -> None:
    payload = build_archive(esc50_dir, tmp_path / "src.zip")
    server = RangeServer(payload[:-100])  # truncated in transit
    try:
        with pytest.raises(DatasetError, match="download it again"):
            esc50.download(tmp_path / "a", url=server.url)
        server.payload = payload
        with pytest.raises(DatasetError, match="checksum"):
            esc50.download(tmp_path / "b", url=server.url, sha256="0" * 64)
    finally:
        server.close()
    assert not (tmp_path / "a" / "ESC-50-master").exists()
    assert not (tmp_path / "a" / "ESC-50.zip").exists(), "a bad archive is not reused"


def test_download_without_network_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="resumes where it stopped"):
        esc50.download(tmp_path, url="http://127.0.0.1:9/ESC-50.zip", timeout=2)


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "train", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_cli_prepare_prints_a_summary(subset: Path, tmp_path: Path) -> None:
    done = run_cli("-q", "prepare", "--esc50-dir", str(subset), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "50 clips (50 converted, 0 reused)" in done.stdout
    assert "dog 5" in done.stdout and "test 10" in done.stdout


def test_cli_errors_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    done = run_cli("prepare", "--esc50-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "No ESC-50 metadata" in done.stderr and "Traceback" not in done.stderr


def test_prepared_files_are_readable_by_others(subset: Path, tmp_path: Path) -> None:
    """Atomic writes go through a private temp file; the result must not stay private."""
    out = tmp_path / "out"
    esc50.prepare(subset, out)
    for path in [out / "animals.csv", next((out / "audio").glob("*.wav"))]:
        assert path.stat().st_mode & 0o044 == 0o044, oct(path.stat().st_mode)
