"""`taustack train openai` against the fake OpenAI fine-tuning API (tests/fakes/openai_ft), in process: uploads,
the job body (only the hyperparameters given), progress, results, failures, cancel, --follow, Ctrl-C, bad input."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from taustack.training.openai_ft import follow as follow_module
from taustack.training.openai_ft.api import Api
from taustack.training.openai_ft.follow import EventCursor
from taustack.training.openai_ft.results import decode_result, parse_metrics, write_plot
from tests.fakes.openai_ft.fake_openai_ft import FakeOpenAIFineTuning
from tests.helpers import run_main

KEY = "sk-test-Zq8vLx3TqKey0123456789"
MODEL = "gpt-4.1-mini-2025-04-14"
TOOLS = [{"type": "function", "function": {"name": "get_user_details", "description": "Get a user.",
                                           "parameters": {"type": "object", "properties": {"user_id": {
                                               "type": "string"}}, "required": ["user_id"]}}}]


def line(n: int) -> str:
    return json.dumps({"messages": [
        {"role": "system", "content": "You are an airline agent."},
        {"role": "user", "content": f"I am user {n}."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{n}", "type": "function", "function": {
            "name": "get_user_details", "arguments": json.dumps({"user_id": f"u{n}"})}}]},
        {"role": "tool", "tool_call_id": f"call_{n}", "content": "{}"},
        {"role": "assistant", "content": "Done."}], "tools": TOOLS, "parallel_tool_calls": False})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIFineTuning]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TAUSTACK_OPENAI_POLL_S", "0")
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_ADMIN_KEY", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAIFineTuning(api_key=KEY) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "tau2-sft"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(line(n) + "\n" for n in range(4)))
    (folder / "test.jsonl").write_text("".join(line(n) + "\n" for n in range(10, 12)))
    return folder


def taustack(*args: str) -> tuple[int, str, str]:
    """`taustack ARGS` through main(), inside CliRunner's isolation: (exit code, stdout, stderr)."""
    return run_main(list(args))


def run(fake: FakeOpenAIFineTuning, out: Path, *args: str) -> tuple[int, str, str]:
    return taustack("train", "openai", *args, "--base-url", fake.url, "--out", str(out))


def error_line(stderr: str) -> str:
    lines = [text for text in stderr.splitlines() if text.startswith("Error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def files_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode(errors="replace") for p in folder.rglob("*") if p.is_file())


def job_body(fake: FakeOpenAIFineTuning) -> dict[str, Any]:
    (request,) = fake.requests_to("POST", "/v1/fine_tuning/jobs")
    body: dict[str, Any] = request["json"]
    return body


# --- the whole way ---------------------------------------------------------------------------------------------

def test_success_uploads_sends_only_given_hyperparameters_and_saves_results(
        fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(fake, out, str(dataset), "--model", MODEL, "--suffix", "tau2", "--epochs", "2",
                               "--batch-size", "2")
    assert code == 0, stderr
    (job,) = fake.jobs.values()
    assert job.status == "succeeded"
    assert stdout.strip() == job.fine_tuned_model and ":tau2:" in stdout

    uploads = fake.requests_to("POST", "/v1/files")
    assert [(u["filename"], u["form"]) for u in uploads] == [("train.jsonl", {"purpose": "fine-tune"}),
                                                            ("test.jsonl", {"purpose": "fine-tune"})]
    assert job.training_file.content == (dataset / "train.jsonl").read_bytes()
    assert job.validation_file is not None and job.validation_file.content == (dataset / "test.jsonl").read_bytes()

    body = job_body(fake)
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 2}}}
    assert set(body) == {"model", "training_file", "validation_file", "method", "suffix"}
    assert body["model"] == MODEL and body["suffix"] == "tau2"
    assert "auto" not in json.dumps(body) and "learning_rate_multiplier" not in json.dumps(body)
    assert "hyperparameters given: n_epochs=2, batch_size=2; learning_rate_multiplier left to the API's defaults" \
        in stderr

    steps = [int(m.group(1)) for m in re.finditer(r"^\d\d:\d\d:\d\d step (\d+)/4 train_loss=\S+ valid_loss=\S+",
                                                   stderr, re.MULTILINE)]
    assert steps == [1, 2, 3, 4]  # each metrics event once, in order
    assert f"job {job.id}: succeeded" in stderr and "The job has successfully completed" in stderr

    metrics = (out / "metrics.csv").read_text()
    assert metrics.startswith("step,train_loss,train_accuracy,valid_loss")
    assert [row["step"] for row in parse_metrics(metrics)] == [1.0, 2.0, 3.0, 4.0]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out / "job.json").read_text())
    assert record["job"]["id"] == job.id and record["job"]["status"] == "succeeded"
    assert [c["step_number"] for c in record["checkpoints"]] == [4, 2]
    assert record["result_files"][0]["saved_as"] == "metrics.csv"
    submitted = json.loads((out / "submitted.json").read_text())
    assert submitted["job_id"] == job.id and submitted["training_file"]["examples"] == 4
    assert submitted["method"] == body["method"]

    assert KEY not in stdout + stderr + files_text(out)


def test_no_hyperparameters_given_sends_none_and_no_validation(fake: FakeOpenAIFineTuning, dataset: Path,
                                                               tmp_path: Path) -> None:
    code, stdout, stderr = run(fake, tmp_path / "out", str(dataset), "--model", MODEL, "--no-validation",
                               "--seed", "7")
    assert code == 0, stderr
    assert stdout.startswith("ft:")
    body = job_body(fake)
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {}}}
    assert body["seed"] == 7 and "validation_file" not in body and "suffix" not in body
    assert [u["filename"] for u in fake.requests_to("POST", "/v1/files")] == ["train.jsonl"]
    assert "hyperparameters given: none; n_epochs, batch_size, learning_rate_multiplier left to the API's " \
           "defaults" in stderr
    # the API's own defaults: 3 epochs, batch size 1
    assert re.search(r"step 12/12 train_loss=\S+ train_mean_token_accuracy=\S+$", stderr, re.MULTILINE)


def test_failed_job_is_one_error_line_naming_it(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    code, stdout, stderr = run(fake, tmp_path / "out", str(dataset), "--model", "gpt-4.1-mini-fail")
    (job,) = fake.jobs.values()
    assert code == 1 and stdout == ""
    error = error_line(stderr)
    assert job.id in error and "failed" in error and "the fake fails models" in error
    assert json.loads((tmp_path / "out" / "job.json").read_text())["job"]["status"] == "failed"
    assert KEY not in stderr


# --- detach, follow, cancel, Ctrl-C -----------------------------------------------------------------------------

def test_detach_then_follow(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(fake, out, str(dataset), "--model", MODEL, "--detach")
    assert code == 0, stderr
    (job,) = fake.jobs.values()
    assert stdout.strip() == job.id and job.status == "validating_files"
    assert f"taustack train openai --follow {job.id} --base-url {fake.url} --out {out}" in stderr

    code, stdout, stderr = run(fake, out, "--follow", job.id)
    assert code == 0, stderr
    assert stdout.strip() == job.fine_tuned_model
    assert "Created fine-tuning job" in stderr  # the history, then what came next
    assert len(re.findall(r"^\S+ step \d+/", stderr, re.MULTILINE)) == job.total_steps()
    assert (out / "metrics.csv").is_file() and (out / "job.json").is_file() and (out / "submitted.json").is_file()


def test_cancel_then_follow_is_an_error(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(fake, out, str(dataset), "--model", MODEL, "--detach")[0] == 0
    (job,) = fake.jobs.values()
    code, stdout, stderr = run(fake, out, "--cancel", job.id)
    assert code == 0 and stdout == "", stderr
    assert job.status == "cancelled" and f"cancelled job {job.id} (status: cancelled)" in stderr
    assert len(fake.requests_to("POST", rf"/v1/fine_tuning/jobs/{job.id}/cancel")) == 1

    code, _, stderr = run(fake, out, "--follow", job.id)
    assert code == 1 and job.id in error_line(stderr) and "cancelled" in error_line(stderr)
    code, _, stderr = run(fake, out, "--cancel", job.id)  # the API's refusal, in one line
    assert code == 1 and "OpenAI answered 400" in error_line(stderr)


def test_ctrl_c_detaches_without_cancelling(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(follow_module, "pause", interrupt)
    code, stdout, stderr = run(fake, tmp_path / "out", str(dataset), "--model", MODEL)
    (job,) = fake.jobs.values()
    assert code == 130 and stdout == ""
    assert f"detached from job {job.id}" in stderr
    assert f"taustack train openai --follow {job.id}" in stderr
    assert job.status not in ("cancelled", "succeeded") and not fake.requests_to("POST", r".*/cancel")


# --- refused before anything is sent ---------------------------------------------------------------------------

@pytest.mark.parametrize(("train", "message"), [
    (None, r"no train\.jsonl"),
    ("", r"train\.jsonl: no examples"),
    (line(0) + "\n{not json\n", r"train\.jsonl line 2: not JSON"),
    (line(0) + "\n" + json.dumps({"prompt": "x", "completion": "y"}) + "\n", r"train\.jsonl line 2: not a chat "),
    (json.dumps([1, 2]) + "\n", r"train\.jsonl line 1: not a chat"),
    (json.dumps({"messages": [], "tools": []}) + "\n", r"train\.jsonl line 1: not a chat"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "tools": {}}) + "\n", r"line 1: \"tools\" must"),
])
def test_bad_dataset_uploads_nothing(fake: FakeOpenAIFineTuning, tmp_path: Path, train: str | None,
                                     message: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    if train is not None:
        (folder / "train.jsonl").write_text(train)
    code, _, stderr = run(fake, tmp_path / "out", str(folder), "--model", MODEL)
    assert code == 1
    assert re.search(message, error_line(stderr)) and str(folder) in error_line(stderr)
    assert fake.requests == []


def test_bad_test_file_and_missing_folder(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path) -> None:
    (dataset / "test.jsonl").write_text(line(1) + "\n\n" + "[]\n")
    code, _, stderr = run(fake, tmp_path / "out", str(dataset), "--model", MODEL)
    assert code == 1 and re.search(r"test\.jsonl line 3: not a chat", error_line(stderr))
    code, _, stderr = run(fake, tmp_path / "out", str(tmp_path / "nowhere"), "--model", MODEL)
    assert code == 1 and "no such folder" in error_line(stderr)
    assert fake.requests == []


def test_missing_key(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    code, _, stderr = run(fake, tmp_path / "out", str(dataset), "--model", MODEL)
    assert code == 1 and "OPENAI_API_KEY is not set" in error_line(stderr)
    code, _, stderr = run(fake, tmp_path / "out", "--follow", "ftjob-x")
    assert code == 1 and "OPENAI_API_KEY" in error_line(stderr)
    assert fake.requests == []


def test_wrong_key_is_named_and_not_echoed(fake: FakeOpenAIFineTuning, dataset: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-wrong-Pq7Yt5Rr4Ee3Ww2"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    code, stdout, stderr = run(fake, tmp_path / "out", str(dataset), "--model", MODEL)
    assert code == 1 and "refused the key in OPENAI_API_KEY (401" in error_line(stderr)
    assert wrong not in stdout + stderr and wrong[-4:] not in error_line(stderr)
    assert fake.jobs == {}


def test_unknown_job(fake: FakeOpenAIFineTuning, tmp_path: Path) -> None:
    code, _, stderr = run(fake, tmp_path / "out", "--follow", "ftjob-nope")
    assert code == 1 and "reading job ftjob-nope: OpenAI answered 404" in error_line(stderr)


@pytest.mark.parametrize("args", [
    (), ("DATA",), ("--follow", "a", "--cancel", "b"), ("DATA", "--follow", "a"), ("--follow", "a", "--epochs", "2"),
    ("DATA", "--model", "m", "--epochs", "0"), ("DATA", "--model", "m", "--learning-rate-multiplier", "0"),
])
def test_usage_errors(fake: FakeOpenAIFineTuning, tmp_path: Path, args: tuple[str, ...]) -> None:
    code, _, stderr = taustack("train", "openai", *args)
    assert code == 2, stderr
    assert fake.requests == []


# --- the pieces -------------------------------------------------------------------------------------------------

def test_event_cursor_pages_newest_first_and_returns_each_event_once(fake: FakeOpenAIFineTuning) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=fake.url, max_retries=0)
    training = client.files.create(file=("train.jsonl", (line(0) + "\n").encode() * 3), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training.id, method={"type": "supervised"})
    api, cursor = Api(client, KEY), EventCursor(page=2)  # pages smaller than what is new: `after` is used
    seen: list[str] = []
    for _ in range(4):
        for _ in range(3):
            client.fine_tuning.jobs.retrieve(job.id)
        seen += [event.id for event in cursor.new_events(api, job.id)]
    assert seen == [event["id"] for event in fake.jobs[job.id].events]
    assert any(r["query"].get("after") for r in fake.requests_to("GET", r".*/events"))


def test_the_fake_checks_the_job_body(fake: FakeOpenAIFineTuning) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=fake.url, max_retries=0)
    training = client.files.create(file=("train.jsonl", (line(0) + "\n").encode()), purpose="fine-tune")
    for kwargs, param in [({"method": {"type": "dpo"}}, "method.type"), ({}, "method.type"),
                          ({"training_file": "file-nope", "method": {"type": "supervised"}}, "training_file"),
                          ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
                           "method.supervised.hyperparameters.n_epochs")]:
        with pytest.raises(openai.BadRequestError) as info:
            client.fine_tuning.jobs.create(**{"model": MODEL, "training_file": training.id, **kwargs})
        assert info.value.param == param
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-other", base_url=fake.url, max_retries=0).files.retrieve(training.id)
    with pytest.raises(openai.BadRequestError, match="purpose: fine-tune"):
        client.files.content(training.id)


def test_result_files_decode_and_svg_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_text = "step,train_loss,train_accuracy,valid_loss\n1,2.0,0.1,\n2,1.5,0.2,1.7\n3,1.0,0.3,1.2\n"
    import base64

    assert decode_result(base64.b64encode(csv_text.encode())) == csv_text
    assert decode_result(csv_text.encode()) == csv_text
    rows = parse_metrics(csv_text)
    assert rows[0]["valid_loss"] is None and rows[2]["train_loss"] == 1.0
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    path = write_plot(rows, tmp_path, "ft:<model>")
    assert path == tmp_path / "loss.svg" and not (tmp_path / "loss.png").exists()
    svg = ET.parse(path).getroot()
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 3  # the axes, train_loss, valid_loss
    assert write_plot(parse_metrics("step,train_loss\n"), tmp_path, "x") is None
