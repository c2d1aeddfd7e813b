"""Public mode on the server: who may train, what a Start request may ask, run time limits, cancel rights,
the operator's pinned HuBERT, and the per-visitor rate limit of /classify."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from animal_audio import access
from animal_audio.access import AccessError, RateLimiter, training_access
from animal_audio.demo import training
from animal_audio.demo.models import Registry
from animal_audio.demo.training import TIME_LIMIT_NOTE, TrainingJob, checked_request, start_run
from animal_audio.errors import AnimalAudioError
from animal_audio.progress import check_cancel

PUBLIC_VARIABLES = (
    "SPACE_ID",
    "SYSTEM",
    "ANIMAL_AUDIO_PUBLIC",
    "ANIMAL_AUDIO_TRAINING",
    "ANIMAL_AUDIO_ADMINS",
)


@pytest.fixture
def public(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A Space owned by `owner`, with `helper` as an extra admin."""
    for name in PUBLIC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", "owner/animal-audio")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    monkeypatch.setenv("ANIMAL_AUDIO_ADMINS", " Helper , ")
    return monkeypatch


def test_locally_everybody_trains_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PUBLIC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    visitor = training_access(None, "session-1")
    assert visitor.allowed and visitor.admin and visitor.who == "session:session-1"
    assert access.rate_limit() is None and access.max_run_seconds() is None


def test_in_public_mode_only_the_owner_and_admins_train(public: pytest.MonkeyPatch) -> None:
    anonymous = training_access(None, "s")
    assert not anonymous.allowed and "sign in" in anonymous.reason
    stranger = training_access("mallory", "s")
    assert not stranger.allowed and "only this Space's owner" in stranger.reason
    assert training_access("owner").allowed and training_access("helper").admin  # names are case-blind
    no_sign_in = training_access(None, sign_in_available=False)
    assert not no_sign_in.allowed and "Hugging Face Spaces" in no_sign_in.reason
    with pytest.raises(AccessError, match="sign in"):
        anonymous.require()


def test_training_off_closes_it_for_everybody(public: pytest.MonkeyPatch) -> None:
    public.setenv("ANIMAL_AUDIO_TRAINING", "off")
    closed = training_access("owner")
    assert not closed.allowed and "ANIMAL_AUDIO_TRAINING=off" in closed.reason
    assert not access.sign_in_wanted()


def test_public_defaults_and_overrides(public: pytest.MonkeyPatch) -> None:
    assert access.rate_limit() == access.PUBLIC_RATE_LIMIT
    assert access.max_run_seconds() == access.PUBLIC_MAX_RUN_MINUTES * 60
    public.setenv("ANIMAL_AUDIO_RATE_LIMIT", "5")
    public.setenv("ANIMAL_AUDIO_MAX_RUN_MINUTES", "0.5")
    assert access.rate_limit() == 5 and access.max_run_seconds() == 30
    public.setenv("ANIMAL_AUDIO_RATE_LIMIT", "0")
    assert access.rate_limit() is None
    for nonsense in ("many", "inf", "nan"):  # an unusable value keeps the public default
        public.setenv("ANIMAL_AUDIO_RATE_LIMIT", nonsense)
        assert access.rate_limit() == access.PUBLIC_RATE_LIMIT


@pytest.mark.parametrize(
    ("models", "protocol", "epochs", "wrong"),
    [
        (["yamnet-zeroshot"], "folds", 31, "Epochs"),
        (["yamnet-zeroshot"], "folds", 0, "Epochs"),
        (["yamnet-zeroshot"], "folds", "10", "Epochs"),
        (["yamnet-zeroshot"], "folds", float("nan"), "Epochs"),
        (["yamnet-zeroshot"], "folds", True, "Epochs"),
        (["yamnet-zeroshot"], "random", 1, "protocol"),
        ("yamnet-zeroshot", "folds", 1, "at least one model"),
        ([], "folds", 1, "at least one model"),
        ([{"name": "x"}], "folds", 1, "at least one model"),
    ],
)
def test_a_scripted_start_request_is_checked(models, protocol, epochs, wrong: str) -> None:
    with pytest.raises(AnimalAudioError, match=wrong):
        checked_request(models, protocol, epochs)


def test_unknown_model_names_are_refused(prepared_subset: Path) -> None:
    with pytest.raises(AnimalAudioError, match="Unknown model"):
        training.make_config(*checked_request(["rm -rf /"], "folds", 1), data_dir=prepared_subset)


class _Recorder:
    """A comparison runner that waits for its cancel check, like the pipeline between clips."""

    def __init__(self) -> None:
        self.configs: list = []
        self.release = threading.Event()

    def __call__(self, config, progress, cancel):
        self.configs.append(config)
        while not self.release.wait(0.02):
            check_cancel(cancel, "the test run")
        return SimpleNamespace(run_dir=Path("unused"))


@pytest.fixture
def held_job() -> Iterator[tuple[TrainingJob, _Recorder]]:
    """A job whose runs wait for their cancel check; released and ended after the test, whatever happened."""
    runner = _Recorder()
    job = TrainingJob(runner=runner)
    yield job, runner
    runner.release.set()
    job.wait(10)


def test_start_refuses_a_visitor_and_starts_for_the_owner(
    public: pytest.MonkeyPatch, prepared_subset: Path, held_job: tuple[TrainingJob, _Recorder]
) -> None:
    public.setenv("ANIMAL_AUDIO_DATA", str(prepared_subset))
    job, runner = held_job
    form = (["yamnet-zeroshot"], "folds", 1)
    with pytest.raises(AccessError):
        start_run(job, form, "", training_access(None, "visitor"), on_done=None)
    assert not job.running and not runner.configs
    done = start_run(job, form, "", training_access("owner"), on_done=None)
    assert done.started and job.running and runner.configs[0].models == ("yamnet-zeroshot",)
    busy = start_run(job, form, "", training_access("helper"), on_done=None)
    assert not busy.started and busy.title == "Busy"


def test_only_the_runs_owner_or_an_admin_cancels_it(
    prepared_subset: Path, held_job: tuple[TrainingJob, _Recorder]
) -> None:
    job, _ = held_job
    job.start(
        training.make_config(["yamnet-zeroshot"], "folds", 1, data_dir=prepared_subset), owner="user:alice"
    )
    with pytest.raises(AccessError, match="Only whoever started"):
        job.cancel(by="user:bob", admin=False)
    with pytest.raises(AccessError):
        job.cancel(by="", admin=False)
    assert job.running
    assert job.cancel(by="user:alice", admin=False)
    assert job.wait(10) and job.snapshot().cancelled


def test_a_run_stops_at_its_time_limit(
    prepared_subset: Path, held_job: tuple[TrainingJob, _Recorder]
) -> None:
    job, _ = held_job
    config = training.make_config(["yamnet-zeroshot"], "folds", 1, data_dir=prepared_subset)
    job.start(config, time_limit=0.3)
    assert job.wait(10), "the time limit stopped it"
    snap = job.snapshot()
    assert snap.cancelled and snap.error == TIME_LIMIT_NOTE and "time limit" in snap.log[-1]


def test_a_run_expected_past_the_limit_does_not_start(
    monkeypatch: pytest.MonkeyPatch, prepared_subset: Path
) -> None:
    monkeypatch.setenv("ANIMAL_AUDIO_MAX_RUN_MINUTES", "0.001")  # 60 ms: less than any real run
    config = training.make_config(["yamnet-probe"], "cv", 1, data_dir=prepared_subset)
    with pytest.raises(AnimalAudioError, match="ANIMAL_AUDIO_MAX_RUN_MINUTES"):
        training.check_start(config, "", busy=False)


def test_a_run_never_replaces_the_pinned_hubert(
    monkeypatch: pytest.MonkeyPatch, tiny_hubert_dir: Path, yamnet_tflite: Path, tmp_path: Path
) -> None:
    """ANIMAL_AUDIO_HUBERT naming a trained classifier pins it: a finished run switches YAMNet's side only."""
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(tiny_hubert_dir))
    registry = Registry(yamnet=str(yamnet_tflite), use_latest_run=False)
    assert registry.hubert_pinned()
    before = registry.get("hubert")
    registry.use_run(tmp_path / "a-run")
    assert registry.get("hubert") is before, "not even reloaded"
    origin = registry.side_status("hubert").origin
    assert tiny_hubert_dir.name in origin and "ANIMAL_AUDIO_HUBERT" in origin


def test_a_base_model_is_not_a_pin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from random_hubert import build_random_hubert

    base = build_random_hubert(tmp_path / "base", head=False)
    monkeypatch.setenv("ANIMAL_AUDIO_HUBERT", str(base))
    assert not Registry(use_latest_run=False).hubert_pinned()


def test_rate_limit_per_visitor_says_how_long_to_wait() -> None:
    now = [1000.0]
    limiter = RateLimiter(3, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("1.2.3.4")
    now[0] += 48.0
    with pytest.raises(AccessError, match=r"Too many requests: 3 classifications a minute.*Wait 12 s"):
        limiter.check("1.2.3.4")
    limiter.check("5.6.7.8")  # another visitor is not slowed down
    now[0] += 12.5
    limiter.check("1.2.3.4")  # the window moved on
    RateLimiter(None).check("anyone")


def test_rate_limiter_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "MAX_CLIENTS", 50)
    limiter = RateLimiter(1)
    for i in range(500):
        limiter.check(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._calls) <= 50


def test_client_address_trusts_the_forwarded_header_only_on_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = SimpleNamespace(host="10.0.0.9")
    headers = {"x-forwarded-for": "6.6.6.6, 1.2.3.4"}
    monkeypatch.delenv("SYSTEM", raising=False)
    assert access.client_address(headers, peer) == "10.0.0.9"  # not behind the Spaces proxy: forgeable
    monkeypatch.setenv("SYSTEM", "spaces")
    assert access.client_address(headers, peer) == "1.2.3.4"  # the hop the proxy added
    assert access.client_address({}, None) == "unknown"
    monkeypatch.delenv("SYSTEM")
    rotating = [SimpleNamespace(host=f"2001:db8:1:2::{i:x}") for i in (1, 0xBEEF)]
    assert {access.client_address({}, peer) for peer in rotating} == {"2001:db8:1:2::/64"}


def test_sign_in_is_offered_only_where_it_is_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Spaces Gradio's mock signs ANY visitor in as this machine's user: never offered unless asked for."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "whoami", lambda *a, **k: {"type": "user", "name": "operator"})
    monkeypatch.setenv("HF_TOKEN", "hf_local_test_token")
    for name in ("SYSTEM", "OAUTH_CLIENT_ID", access.ENV_SIGN_IN_MOCK):
        monkeypatch.delenv(name, raising=False)
    assert not access.sign_in_works(), "a Hugging Face login on a public server is no sign-in"
    monkeypatch.setenv(access.ENV_SIGN_IN_MOCK, "1")
    assert access.sign_in_works()
    monkeypatch.setenv("SYSTEM", "spaces")
    assert not access.sign_in_works(), "a Space without hf_oauth: true has no sign-in routes"
    monkeypatch.setenv("OAUTH_CLIENT_ID", "client")
    assert access.sign_in_works()
