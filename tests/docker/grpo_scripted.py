"""Run inside the trainer image by tests/docker/test_grpo.py: `python grpo_scripted.py MODEL_DIR OUT_DIR`.

1. A real tau2 mock episode (solo, create_task_1) played through rollout.play with scripted turns (a right call,
   a malformed block, `done`): tau2's evaluator must give 1.0, and only the scripted tokens may carry loss.
2. GRPO on the tiny model with a scripted reward that varies within each group: advantages must be non-zero and
   the LoRA weights must change (with tau2's reward a random model scores 0 everywhere: no gradient at all).
Prints one JSON line with what it saw.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from taustack.trainer.grpo import build_trainer, quiet_libraries
from taustack.trainer.rollout import play
from taustack.trainer.tau2_episode import Episode, system_prompts
from taustack.training.grpo_recipe import parse_grpo_recipe

SCRIPT = [
    '<tool_call>\n{"name": "create_task", "arguments": {"user_id": "user_1", "title": "Important Meeting"}}\n'
    '</tool_call>',
    '<tool_call>\n{"name": "get_users", oops\n</tool_call>',
    '<tool_call>\n{"name": "done", "arguments": {}}\n</tool_call>',
]


def scripted_episode(model: str) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
    turns = iter(SCRIPT)
    generated: list[list[int]] = []

    def generate(contexts: list[list[int]]) -> tuple[list[list[int]], None]:
        ids = tokenizer(next(turns), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        generated.append(ids)
        return [ids for _ in contexts], None

    episode = Episode("mock", "create_task_1", True, 30)
    (transcript,) = play([episode], system_prompts("mock", ["create_task_1"], True), tokenizer, generate,
                         {tokenizer.eos_token_id}, 4096)
    outcome = episode.outcome()
    model_tokens = [token for token, mask in zip(transcript.completion_ids, transcript.env_mask, strict=True) if mask]
    masked = [token for token, mask in zip(transcript.completion_ids, transcript.env_mask, strict=True) if not mask]
    script_tokens = [token for ids in generated for token in ids]
    return {"reward": outcome.reward, "termination": outcome.termination, "turns": transcript.turns,
            "malformed": transcript.malformed, "model_tokens_are_the_script": model_tokens == script_tokens,
            "masked_text": tokenizer.decode(masked),
            "prompt_has_ticket": "Important Meeting" in tokenizer.decode(transcript.prompt_ids)}


def scripted_training(model: str, out: Path) -> dict[str, Any]:
    import torch

    recipe = parse_grpo_recipe({
        "model": model, "environment": {"domain": "mock", "split": "base", "mode": "solo", "max_steps": 6},
        "grpo": {"num_generations": 2, "per_device_train_batch_size": 4, "max_steps": 2,
                 "max_completion_length": 24, "learning_rate": 1e-2, "logging_steps": 1, "save_strategy": "no"},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"}})
    seen: list[list[float]] = []

    def scripted(prompts: list[Any], completions: list[Any], completion_ids: list[list[int]],
                 **kwargs: Any) -> list[float]:
        rewards = [float(index % 2) for index in range(len(prompts))]  # 1, 0 within each group of 2
        seen.append(rewards)
        return rewards

    trainer = build_trainer(recipe, model, out, reward_funcs=[scripted])
    lora_b = {name: param.detach().clone() for name, param in trainer.model.named_parameters() if "lora_B" in name}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = sum(not torch.equal(before, after[name].detach()) for name, before in lora_b.items())
    advantages = [float(value) for value in trainer._logs["advantages"]]
    return {"lora_b_tensors": len(lora_b), "lora_b_changed": changed, "advantages": advantages, "rewards": seen}


def main() -> None:
    quiet_libraries()
    model, out = sys.argv[1], Path(sys.argv[2])
    print(json.dumps({"episode": scripted_episode(model), "training": scripted_training(model, out)}))


if __name__ == "__main__":
    main()
