"""Teach it your sounds: a session's limits, class names, safe zips both ways, cleanup, and heads trained on
real ESC-50 clips with the real YAMNet (and the tiny HuBERT) that classify a held-out clip."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from animal_audio.demo import teach as teach_views
from animal_audio.labels import LabelSet
from animal_audio.models.probe import LinearProbe
from animal_audio.plots.clip import probability_figure
from animal_audio.teach import MAX_CLASSES, TeachError, TeachSession, TeachSessions, check_name
from animal_audio.teach_train import TeachModel, classify_heads, export_heads, train_heads
from animal_audio.teach_zip import MAX_MEMBERS, export_zip, import_zip

THREE = ("dog", "cat", "rooster")
PER_CLASS = 5


@pytest.fixture
def session(tmp_path: Path):
    session = TeachSession(tmp_path / "teach")
    yield session
    session.close()


@pytest.fixture(scope="module")
def yamnet(yamnet_tflite: Path):
    from animal_audio.models.yamnet import YamnetModel

    return YamnetModel.load(str(yamnet_tflite))


def _fill(session: TeachSession, clip_of, classes=THREE, per_class: int = PER_CLASS) -> None:
    for name in classes:
        session.add_class(name)
        for index in range(per_class):
            session.add_clip(name, clip_of(name, 1, index), f"{name}-{index}.wav")


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


# --------------------------------------------------------------------------- names and limits


@pytest.mark.parametrize("name", ["Dog", "door bell", "кошка", "bird_2", "a-b"])
def test_safe_names_are_kept(name: str) -> None:
    assert check_name(f"  {name} ") == name


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("", "teach_err_name_empty"),
        ("   ", "teach_err_name_empty"),
        (None, "teach_err_name_empty"),
        ("../etc", "teach_err_name_chars"),
        ("a/b", "teach_err_name_chars"),
        (".hidden", "teach_err_name_chars"),
        ("_x", "teach_err_name_chars"),
        ("x" * 33, "teach_err_name_long"),
        ("dog\x00", "teach_err_name_chars"),
    ],
)
def test_unsafe_names_are_refused_with_a_reason(name, key: str) -> None:
    with pytest.raises(TeachError) as caught:
        check_name(name)
    assert caught.value.message.key == key
    assert caught.value.message.text("ru") != str(caught.value)  # the page can show it in Russian


def test_class_limits(session: TeachSession) -> None:
    session.add_class("dog")
    with pytest.raises(TeachError, match="already a class"):
        session.add_class("DOG")
    for i in range(MAX_CLASSES - 1):
        session.add_class(f"c{i}")
    with pytest.raises(TeachError, match=f"At most {MAX_CLASSES} classes"):
        session.add_class("one more")
    with pytest.raises(TeachError, match="There is no class"):
        session.add_clip("nope", b"", "x.wav")


def test_a_class_needs_three_clips_before_training(session: TeachSession, clip_of) -> None:
    _fill(session, clip_of, ("dog", "cat"), per_class=2)
    assert [m.key for m in session.missing()] == ["teach_err_few_clips", "teach_err_few_clips"]
    with pytest.raises(TeachError, match="every class needs at least 3"):
        train_heads(session, {})
    assert "⏳" in teach_views.counters_markdown(session) and "▰▰▱ 2 clips" in teach_views.counters_markdown(
        session
    )
    assert "записей: 2" in teach_views.counters_markdown(session, "ru")


def test_closing_a_session_deletes_its_folder(tmp_path: Path, clip_of) -> None:
    sessions = TeachSessions(tmp_path / "teach", limit=1)
    session = sessions.get("visitor")
    session.add_class("dog")
    session.add_clip("dog", clip_of("dog"), "dog.wav")
    export_zip(session)
    assert session.root.is_dir() and any(session.root.rglob("*.wav"))
    with pytest.raises(TeachError, match="Too many people"):
        sessions.get("another visitor")
    sessions.end("visitor")
    assert not session.root.exists() and len(sessions) == 0
    with pytest.raises(TeachError, match="session has ended"):
        session.add_class("cat")


def test_idle_sessions_end(tmp_path: Path) -> None:
    sessions = TeachSessions(tmp_path / "teach", idle=0.0)
    first = sessions.get("a")
    sessions.get("b")  # any visitor's request ends the idle ones
    assert not first.root.exists() and sessions.peek("a") is None


def test_a_full_house_makes_room_from_the_longest_idle_session(tmp_path: Path, monkeypatch) -> None:
    """Pages left open (or a script opening sessions) keep new visitors out for minutes, not hours."""
    import animal_audio.teach as teach

    sessions = TeachSessions(tmp_path / "teach", limit=2)
    old, recent = sessions.get("old"), sessions.get("recent")
    with pytest.raises(TeachError, match="Too many people"):
        sessions.get("new")  # everyone active: refused
    old.used -= teach.EVICT_AFTER + 1
    assert sessions.get("new") is not None
    assert not old.root.exists() and sessions.peek("old") is None and recent.root.exists()


# --------------------------------------------------------------------------- zips


def test_zip_round_trip_in_the_folder_layout(session: TeachSession, clip_of, tmp_path: Path) -> None:
    _fill(session, clip_of, ("dog", "cat"), per_class=3)
    path = export_zip(session)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert names[0].startswith("my-sounds/cat/") and len(names) == 6
    other = TeachSession(tmp_path / "other")
    try:
        report = import_zip(other, path)
        assert report.added == {"cat": 3, "dog": 3} and not report.notes
        assert other.counts() == {"cat": 3, "dog": 3}
    finally:
        other.close()


def test_zip_without_a_top_folder_and_with_junk(session: TeachSession, clip_of) -> None:
    wav = clip_of("dog").read_bytes()
    report = import_zip(
        session,
        _zip(
            {
                "dog/a.wav": wav,
                "dog/notes.txt": b"hi",
                "__MACOSX/dog/._a.wav": b"x",
                "cat/b.WAV": b"not audio",
            }
        ),
    )
    assert report.added == {"dog": 1}
    keys = sorted(n.key for n in report.notes)
    assert keys == ["teach_note_clip_skipped", "teach_note_not_audio"]
    assert "Skipped b.WAV: Could not read" in " ".join(n.text() for n in report.notes)
    assert "cat" not in session.classes  # a class none of whose clips could be used is not kept


def _linked(name: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    return buffer


def _lying_header(clip: bytes) -> io.BytesIO:
    """A member whose header claims fewer bytes than it unpacks to."""
    buffer = _zip({"dog/a.wav": clip, "dog/b.wav": b"\0" * 200_000})
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("dog/b.wav")
    # the uncompressed size in the local header and the central directory: 1000 instead of 200000
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):
        data[offset : offset + 4] = (1000).to_bytes(4, "little")
    return io.BytesIO(bytes(data))


def test_hostile_zips_are_refused_and_add_nothing(session: TeachSession, clip_of) -> None:
    wav = clip_of("dog").read_bytes()
    hostile = {
        "teach_err_zip_unsafe_path": _zip({"../../evil/a.wav": wav}),
        "teach_err_zip_link": _linked("dog/a.wav"),
        "teach_err_zip_bomb": _zip({"dog/a.wav": b"\0" * 5_000_000}),
        "teach_err_zip_members": _zip({f"dog/{i}.txt": b"" for i in range(MAX_MEMBERS + 1)}),
        "teach_err_not_zip": io.BytesIO(b"PK this is no zip"),
        "teach_err_zip_no_clips": _zip({"readme.txt": b"hello"}),
    }
    for key, data in hostile.items():
        with pytest.raises(TeachError) as caught:
            import_zip(session, data)
        assert caught.value.message.key == key, key
        assert "/" not in str(caught.value).replace("my-sounds/dog/1.wav, my-sounds/cat/1.wav", "")
    with pytest.raises(TeachError) as caught:
        import_zip(session, _lying_header(wav))
    assert caught.value.message.key in ("teach_err_zip_bomb", "teach_err_zip_damaged")
    assert session.total() == 0 and not session.classes  # the good clip before it was taken back


# --------------------------------------------------------------------------- training


def test_three_classes_train_and_a_held_out_clip_is_classified(
    session: TeachSession, clip_of, yamnet
) -> None:
    _fill(session, clip_of)
    models = {"yamnet": TeachModel("yamnet", yamnet)}
    result = train_heads(session, models)
    head = result.heads["yamnet"]
    assert head.accuracy >= 0.6 and head.confusion().shape == (3, 3) and head.confusion().sum() == 15
    assert "hubert" not in result.heads
    held_out = clip_of("rooster", 5, 0)  # another fold: another recording
    answers = classify_heads(result, models, held_out)
    assert answers["yamnet"].label == "rooster" and answers["yamnet"].labels.names == THREE
    text = teach_views.trained_markdown(result)
    assert "YAMNet" in text and "left out" in text
    verdict, figures = teach_views.answer_views(answers, result)
    assert "rooster" in verdict and len(figures["yamnet"].data[0].y) == 3
    # embedded once: training again reuses every clip's features
    calls = []
    models_counting = {"yamnet": TeachModel("yamnet", _Counting(yamnet, calls))}
    train_heads(session, models_counting)
    assert calls == []


class _Counting:
    """An embedder that records each clip it embeds (the features must come from the session instead)."""

    def __init__(self, inner, calls: list) -> None:
        self.inner, self.calls = inner, calls
        self.name, self.fingerprint = inner.name, inner.fingerprint

    def embed_frames(self, wave):
        self.calls.append(len(wave))
        return self.inner.embed_frames(wave)


def test_hubert_learns_too_where_the_app_has_its_embedder(
    session: TeachSession, clip_of, yamnet, tiny_hubert_dir: Path, tmp_path: Path
) -> None:
    from animal_audio.models.hubert import HubertEmbedder

    _fill(session, clip_of, ("dog", "cat"), per_class=3)
    models = {
        "yamnet": TeachModel("yamnet", yamnet),
        "hubert": TeachModel("hubert", HubertEmbedder.load(str(tiny_hubert_dir))),
    }
    result = train_heads(session, models)
    assert set(result.heads) == {"hubert", "yamnet"}
    answers = classify_heads(result, models, clip_of("dog", 5, 0))
    assert {a.labels for a in answers.values()} == {LabelSet(("dog", "cat"))}
    path = export_heads(session)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "heads")
    probe = LinearProbe.load(tmp_path / "heads" / "teach-heads" / "yamnet")
    assert probe.labels.names == ("dog", "cat") and probe.embedder_fingerprint == yamnet.fingerprint


def test_a_fine_tuned_hubert_teaches_through_its_projector_outputs(
    session: TeachSession, clip_of, tiny_hubert_dir: Path
) -> None:
    """The app's HuBERT a fine-tuned classifier: its head's own input vectors learn the visitor's classes."""
    from animal_audio.clip_map_run import FinetunedEmbedder
    from animal_audio.models.hubert import HubertClassifier

    _fill(session, clip_of, ("dog", "cat"), per_class=3)
    models = {"hubert": TeachModel("hubert", FinetunedEmbedder(HubertClassifier.load(str(tiny_hubert_dir))))}
    result = train_heads(session, models)
    answer = classify_heads(result, models, clip_of("cat", 5, 0))["hubert"]
    assert answer.labels == LabelSet(("dog", "cat")) and answer.probs.shape == (2,)


def test_a_missing_model_is_a_note_not_a_failure(session: TeachSession, clip_of, yamnet) -> None:
    from animal_audio.teach import TeachMessage

    _fill(session, clip_of, ("dog", "cat"), per_class=3)
    why = TeachMessage("teach_note_no_model", {"model": "HuBERT", "why": "not trained"})
    result = train_heads(session, {"yamnet": TeachModel("yamnet", yamnet), "hubert": why})
    assert result.notes == [why] and "HuBERT could not learn" in teach_views.trained_markdown(result)
    with pytest.raises(TeachError, match="Neither model"):
        train_heads(session, {"hubert": why})


def test_the_animals_bars_are_unchanged_and_other_classes_get_their_own() -> None:
    animals = probability_figure(np.full(10, 0.1), "x")
    assert animals.layout.height == 340 and animals.data[0].y[0] == "🐕 Dog"
    mine = probability_figure(
        [0.2, 0.8], "x", labels=LabelSet(("door bell", "kettle"), {"door bell": "door bell"})
    )
    assert list(mine.data[0].y) == ["door bell", "Kettle"] and mine.layout.height < 340


def test_the_operator_can_turn_the_tab_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from animal_audio.demo.models import Registry
    from animal_audio.demo.training import TrainingJob
    from animal_audio.ui.common import AppState
    from animal_audio.ui.page import build_page

    def tabs() -> list[str]:
        state = AppState.create(TrainingJob(), Registry(use_latest_run=False), lambda run: None)
        config = build_page(state).get_config_file()
        return [c["props"].get("id") for c in config["components"] if c.get("type") == "tabitem"]

    assert "teach" in tabs()
    monkeypatch.setenv("ANIMAL_AUDIO_TEACH", "off")
    assert "teach" not in tabs() and "classify" in tabs()


def test_public_mode_drops_gradios_copy_of_an_added_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from animal_audio.ui import teach_tab

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("ANIMAL_AUDIO_PUBLIC", "1")
    inside, outside = tmp_path / "gradio" / "abc" / "dog.wav", tmp_path / "elsewhere.wav"
    inside.parent.mkdir(parents=True)
    for path in (inside, outside):
        path.write_bytes(b"x")
    teach_tab._discard_uploads([str(inside), str(outside), str(tmp_path / "gradio" / ".." / "elsewhere.wav")])
    assert not inside.exists() and outside.exists()  # nothing outside gradio's upload folder is touched
