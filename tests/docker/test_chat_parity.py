"""Train/serve parity on real tau2 examples: the prompt training builds and the prompt serving builds are the same.

Training side: `tokenizer.apply_chat_template` (transformers) on `for_template(record)`, as
taustack.trainer.train does. Serving side: llama-cpp-python's own renderer (Jinja2ChatFormatter) with the
chat template stored in the GGUF, fed the OpenAI request a client would send (arguments as JSON strings),
and llama.cpp's tokenizer, run inside the llama.cpp engine image. Every assistant turn of every example
is checked: same text, same token ids, and tool-call arguments rendered as JSON objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from taustack.dataset.openai_format import for_template
from tests.docker.conftest import docker
from tests.helpers import AIRLINE_RESULTS, run_cli

pytestmark = pytest.mark.docker

RESULTS = AIRLINE_RESULTS
LLAMACPP_IMAGE = os.environ.get("LLAMACPP_IMAGE", "taustack/llamacpp:0.3.36")
EXAMPLES = 4

SERVING_SIDE = """
import json, sys
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
llm = Llama(model_path="/work/model.gguf", vocab_only=True, verbose=False)
template = llm.metadata["tokenizer.chat_template"]
eos = llm._model.token_get_text(llm.token_eos())
formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="")
out = []
for case in json.load(open("/work/cases.json")):
    prompt = formatter(messages=case["messages"], tools=case["tools"]).prompt
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    out.append({"prompt": prompt, "tokens": tokens})
json.dump(out, open("/work/served.json", "w"))
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("parity") / "airline"
    made = run_cli("dataset", "make", "--results", str(RESULTS), "--name", "airline", "--out", str(out),
                   "--split", "random", "--test-fraction", "0.5")
    assert made.returncode == 0, made.stderr
    converted = run_cli("dataset", "to-openai", "airline", "--out", str(out))
    assert converted.returncode == 0, converted.stderr
    lines = (out / "train.jsonl").read_text().splitlines() + (out / "test.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]
    # the examples with the most tool calls first: they carry the arguments that must not be double-encoded
    parsed.sort(key=lambda r: -sum(len(m.get("tool_calls") or []) for m in r["messages"]))
    return parsed[:EXAMPLES]


def test_training_and_serving_build_identical_prompts(
    records: list[dict[str, object]], tmp_path: Path, base_images: None
) -> None:
    from transformers import AutoTokenizer

    tiny = tmp_path / "tiny"
    made = run_cli("model", "tiny", str(tiny))
    assert made.returncode == 0, made.stderr
    tokenizer = AutoTokenizer.from_pretrained(str(tiny / "hf"))
    cases, trained = [], []
    for record in records:
        messages, tools = for_template(record)
        served_messages = record["messages"]
        assert isinstance(served_messages, list)
        for index, message in enumerate(served_messages):
            if message["role"] != "assistant" or index == 0:
                continue
            # serving: the request an OpenAI client sends before this assistant turn
            cases.append({"messages": served_messages[:index], "tools": record["tools"]})
            text = tokenizer.apply_chat_template(messages[:index], tools=tools, tokenize=False,
                                                 add_generation_prompt=True)
            trained.append({"prompt": text, "tokens": tokenizer(text, add_special_tokens=False)["input_ids"],
                            "full": tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tiny / "tiny.gguf").replace(tmp_path / "model.gguf")
    docker("run", "--rm", "-v", f"{tmp_path}:/work", "--entrypoint", "python3", LLAMACPP_IMAGE, "-c", SERVING_SIDE,
           timeout=600)
    served = json.loads((tmp_path / "served.json").read_text())
    assert len(served) == len(trained) > 10
    for number, (train_side, serve_side) in enumerate(zip(trained, served, strict=True)):
        assert serve_side["prompt"] == train_side["prompt"], f"case {number}: prompts differ"
        assert serve_side["tokens"] == train_side["tokens"], f"case {number}: token ids differ"
        assert train_side["full"].startswith(train_side["prompt"]), f"case {number}: not a prefix of training"
    calls = [line for case in trained for line in case["prompt"].splitlines() if line.startswith('{"name": "')]
    assert calls and all('"arguments": {' in line for line in calls), "arguments must render as JSON objects"
    print(f"\n[measure] train/serve parity: {len(trained)} prompts from {len(records)} tau2 examples, "
          f"{len(calls)} tool calls, identical text and token ids")
