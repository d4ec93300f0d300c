"""Endpoints: args merged into tau2's defaults, base URLs, the gateway's names, keys never recorded."""

from __future__ import annotations

import pytest

from taustack.errors import TaustackError
from taustack.eval.endpoints import Gateway, ModelChoice, base_url_of, parse_args_json, resolve

GATEWAY = Gateway("http://127.0.0.1:4000", ("qwen2.5-7b", "gpt-4.1"), "sk-master-secret")


def test_sampling_args_are_merged_into_tau2s_default_not_replacing_it() -> None:
    endpoint = resolve(ModelChoice("agent", "qwen2.5-7b", args={"max_tokens": 512}), GATEWAY)
    assert endpoint.llm_args() == {"temperature": 0.0, "max_tokens": 512, "api_base": "http://127.0.0.1:4000/v1"}
    hotter = resolve(ModelChoice("agent", "qwen2.5-7b", args={"temperature": 0.7}), GATEWAY)
    assert hotter.llm_args()["temperature"] == 0.7


def test_the_key_is_never_in_what_is_recorded_or_sent_to_tau2() -> None:
    endpoint = resolve(ModelChoice("user", "gpt-4.1"), GATEWAY)
    assert endpoint.key == "sk-master-secret"
    assert "sk-master-secret" not in repr(endpoint)
    assert "sk-master-secret" not in str(endpoint.llm_args()) + str(endpoint.record())


@pytest.mark.parametrize(("url", "base"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
    ("http://host:8000/v1/chat/completions", "http://host:8000/v1"),
    ("https://api.example.com/openai/v1", "https://api.example.com/openai/v1"),
])
def test_base_urls(url: str, base: str) -> None:
    assert base_url_of("agent", url) == base


def test_bad_input_is_one_line_naming_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TaustackError, match=r"--agent-model nope: not a model of the gateway .*qwen2\.5-7b"):
        resolve(ModelChoice("agent", "nope"), GATEWAY)
    with pytest.raises(TaustackError, match=r"no gateway.*--user-url"):
        resolve(ModelChoice("user", "x"), None)
    with pytest.raises(TaustackError, match=r"--agent-url: 'localhost:8080' is not an http\(s\) URL"):
        base_url_of("agent", "localhost:8080")
    with pytest.raises(TaustackError, match="--agent-args: not JSON"):
        parse_args_json("agent", "{temperature: 1}")
    with pytest.raises(TaustackError, match="--user-args: api_key has its own option"):
        parse_args_json("user", '{"api_key": "sk-x"}')
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(TaustackError, match="--agent-key-env NO_SUCH_KEY_VAR: the variable is not set"):
        resolve(ModelChoice("agent", "m", url="http://127.0.0.1:1", key_env="NO_SUCH_KEY_VAR"), None)
