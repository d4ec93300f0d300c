"""`taustack model tiny`: a real tokenizer, HF files and a GGUF that llama.cpp's reader accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gguf
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from taustack.gguf.check import check_gguf
from taustack.gguf.writer import serving_template
from tests.helpers import ROOT, run_cli

TEMPLATE = ROOT / "training" / "chat_templates" / "chatml-tools.jinja"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    result = run_cli("model", "tiny", str(out), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return out


def test_hf_files_describe_a_small_llama(tiny: Path) -> None:
    config = json.loads((tiny / "hf" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    weights = load_file(str(tiny / "hf" / "model.safetensors"))
    parameters = sum(array.size for array in weights.values())
    assert 100_000 < parameters < 1_000_000
    assert weights["model.embed_tokens.weight"].shape == (config["vocab_size"], config["hidden_size"])


def test_tokenizer_round_trips_and_knows_chatml(tiny: Path) -> None:
    tokenizer = Tokenizer.from_file(str(tiny / "hf" / "tokenizer.json"))
    text = '<|im_start|>user\nCancel order #W2378156, please: {"confirm": true}<|im_end|>'
    encoding = tokenizer.encode(text)
    assert encoding.tokens[0] == "<|im_start|>" and encoding.tokens[-1] == "<|im_end|>"
    assert tokenizer.decode(encoding.ids, skip_special_tokens=False) == text
    template = json.loads((tiny / "hf" / "tokenizer_config.json").read_text())["chat_template"]
    assert "{%- generation -%}" in template and "{%- endgeneration -%}" in template and "tools" in template


def test_gguf_carries_the_template_without_generation_markers(tiny: Path) -> None:
    path = tiny / "tiny.gguf"
    check_gguf(path)
    reader = gguf.GGUFReader(str(path))
    field = reader.fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    assert "<tool_call>" in template
    # the template spells its markers `{%- generation -%}`: look for any spelling of the tags, not one it never uses
    assert not re.search(r"\{%-?\s*(end)?generation\b", template), "a generation marker is left in the GGUF"
    source = TEMPLATE.read_text(encoding="utf-8")
    assert source.count("{%- generation -%}") == 1 and source.count("{%- endgeneration -%}") == 1
    assert template == source.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    assert len(reader.tensors) == 2 + 1 + 2 * 9


def test_existing_model_needs_overwrite(tiny: Path) -> None:
    result = run_cli("model", "tiny", str(tiny))
    assert result.returncode == 1 and "--overwrite" in result.stderr


@pytest.mark.parametrize("marker", ["{% generation %}", "{%- generation -%}", "{%generation%}", "{%- endgeneration %}"])
def test_serving_template_drops_every_spelling_of_the_markers(marker: str) -> None:
    assert serving_template(f"a{marker}b") == "ab"
    kept = "{%- if add_generation_prompt -%} generation markers {{ x }}"
    assert serving_template(kept) == kept
