"""GRPO with LoRA on tau2 episodes, inside the trainer image: `python -m taustack.trainer.grpo --recipe ... --model ...
--output RUN [--resume]`.

TRL's GRPOTrainer with a `rollout_func`: each of a group's completions is a whole tau2 episode of one task
(rollout.play), scored by tau2's evaluator (optionally with partial credit); generation is TRL's own (transformers
on the CPU or GPU; vLLM when grpo.use_vllm, in TRL's colocate or server mode). The log history, with reward mean/std,
the share of zero-variance groups and tau2's episode statistics, goes to metrics.jsonl.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from taustack.trainer.resume import train_or_resume
from taustack.trainer.rollout import TemplateError, play
from taustack.trainer.tau2_episode import NO_SIMULATION, Episode, Outcome, system_prompts
from taustack.trainer.train import config_arguments, metrics_callback, save_trained
from taustack.training.environments import TaskSelection, select_file_tasks
from taustack.training.grpo_recipe import USER_KEY_ENV, GrpoRecipe, RewardSpec, load_grpo_recipe
from taustack.training.recipe import TrainingError

TRUNCATED = "truncated"  # how an episode cut at its token budget ended (tau2 saw the `done` taustack sent for it)


def partial_credit(info: dict[str, Any]) -> float:
    """The share of tau2's DB check and action checks an episode passed (0 when it had none)."""
    checks: list[bool] = []
    db = info.get("db_check")
    if isinstance(db, dict) and "db_match" in db:
        checks.append(bool(db["db_match"]))
    for action in info.get("action_checks") or []:
        if isinstance(action, dict) and "action_match" in action:
            checks.append(bool(action["action_match"]))
    return sum(checks) / len(checks) if checks else 0.0


def episode_reward(outcome: Outcome, truncated: bool, spec: RewardSpec) -> float:
    """tau2's reward; a cut-short episode earns 0; with partial credit a failed one earns up to partial_weight."""
    if truncated:
        return 0.0
    if outcome.reward >= 1.0 - 1e-6 or not spec.partial_credit:
        return outcome.reward
    return spec.partial_weight * partial_credit(outcome.reward_info)


def tau2_reward(prompts: list[Any], completions: list[Any], tau2_reward: list[float], **kwargs: Any) -> list[float]:
    """The reward function TRL calls: the episode rewards the rollout computed (an extra field of its output)."""
    return list(tau2_reward)


def grpo_arguments(recipe: GrpoRecipe, output: Path, cpu: bool) -> dict[str, Any]:
    """GRPOConfig keyword arguments: SFT's common ones (train.config_arguments), the rows' task_id kept, and the
    per-turn token limit as TRL's generation kwargs."""
    arguments = config_arguments(recipe.grpo, output, cpu)
    arguments.setdefault("remove_unused_columns", False)  # the rollout reads task_id
    turn = recipe.environment.max_turn_tokens
    if turn is not None:  # TRL's generation kwargs: transformers' max_new_tokens, vLLM's SamplingParams max_tokens
        key = "max_tokens" if recipe.values.use_vllm else "max_new_tokens"
        arguments["generation_kwargs"] = {key: turn, **(arguments.get("generation_kwargs") or {})}
    return arguments


def registered_task_set(selection: TaskSelection) -> str | None:
    """environment.tasks' file registered with tau2 (None: the domain's own tasks)."""
    if selection.tasks_file is None:
        return None
    from taustack.tasks.taskfile import read_task_file, register

    return register(read_task_file(Path(selection.tasks_file)))


def task_dataset(selection: TaskSelection, task_set: str | None) -> Any:
    """One row per task: its system prompt (the stock tau2 agent's) as the prompt, and its id."""
    from datasets import Dataset

    try:
        prompts = system_prompts(selection.domain, list(selection.task_ids), selection.solo, task_set)
    except ValueError as exc:  # every id must exist in this tau2
        raise TrainingError(str(exc)) from None
    return Dataset.from_dict({"prompt": [[{"role": "system", "content": prompt}] for prompt in prompts],
                              "task_id": list(selection.task_ids)})


def user_simulator(recipe: GrpoRecipe) -> tuple[str | None, dict[str, Any] | None]:
    """tau2's user_llm and its args for mode: user (a model served by the stack, OpenAI-compatible)."""
    user = recipe.environment.user
    if user is None:
        return None, None
    os.environ["OPENAI_API_KEY"] = os.environ.get(USER_KEY_ENV) or "none"  # litellm reads it; local gateways ignore it
    return f"openai/{user.model}", {"api_base": user.base_url, **user.args}


def preflight_user(recipe: GrpoRecipe) -> None:
    """Mode user: the user simulator answers one short completion before any episode (as `eval run` checks its
    endpoints); the error names the model and URL, never the key."""
    user_llm, user_args = user_simulator(recipe)
    user = recipe.environment.user
    if user_llm is None or user is None:
        return
    import litellm

    try:
        litellm.completion(model=user_llm, messages=[{"role": "user", "content": "Hello"}],
                           **{**(user_args or {}), "max_tokens": 1}, num_retries=0, timeout=60)
    except Exception as exc:  # litellm's connection, auth and API errors alike
        status = getattr(exc, "status_code", None)
        raise TrainingError(f"environment.user: the user simulator {user.model} at {user.base_url} did not answer "
                            f"({type(exc).__name__}{f', HTTP {status}' if status else ''})") from None


def make_rollout(recipe: GrpoRecipe, selection: TaskSelection, tokenizer: Any, task_set: str | None = None) -> Any:
    """The rollout_func: a batch's prompts (repeated num_generations times by TRL) -> whole episodes."""
    user_llm, user_args = user_simulator(recipe)
    budget = recipe.values.max_completion_length or 512
    eos_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}

    def rollout(prompts: list[Any], trainer: Any) -> Any:
        rows = trainer.taustack_batch  # the dataset rows of these prompts, in the same order
        episodes = [Episode(selection.domain, row["task_id"], selection.solo, recipe.environment.max_steps,
                            user_llm, user_args, task_set) for row in rows]
        systems = [prompt[0]["content"] for prompt in prompts]

        def generate(contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]] | None]:
            ids, logprobs = trainer._generate_single_turn(contexts, None, {}, 1)
            return [list(map(int, seq)) for seq in ids], logprobs

        transcripts = play(episodes, systems, tokenizer, generate, eos_ids, budget)
        outcomes = [episode.outcome() for episode in episodes]
        check_batch(outcomes, recipe)
        rewards = [episode_reward(outcome, transcript.truncated, recipe.reward)
                   for outcome, transcript in zip(outcomes, transcripts, strict=True)]
        endings = [TRUNCATED if t.truncated else o.termination for t, o in zip(transcripts, outcomes, strict=True)]
        log_episode_stats(trainer, transcripts, rewards, endings)
        return {
            "prompt_ids": [t.prompt_ids for t in transcripts],
            "completion_ids": [t.completion_ids for t in transcripts],
            "logprobs": [t.logprobs for t in transcripts] if trainer.use_vllm else None,
            "env_mask": [t.env_mask for t in transcripts],
            "tau2_reward": rewards,
            "tau2_termination": endings,
        }

    return rollout


def check_batch(outcomes: list[Outcome], recipe: GrpoRecipe) -> None:
    """A step where tau2 could run no episode at all stops the run (their errors are above) instead of training on
    zeros; single failures are scored 0 and counted (tau2/termination/no_simulation)."""
    if outcomes and all(outcome.termination == NO_SIMULATION for outcome in outcomes):
        user = recipe.environment.user
        hint = f" (is the user simulator {user.model} at {user.base_url} answering?)" if user else ""
        raise TrainingError(f"tau2 ran none of this step's {len(outcomes)} episodes: each ended in an orchestrator "
                            f"error, logged above{hint}")


def log_episode_stats(trainer: Any, transcripts: list[Any], rewards: list[float], endings: list[str]) -> None:
    """Per-step tau2 statistics beside TRL's reward metrics: turns, malformed calls, cut episodes, solved ones and
    how episodes ended (tau2's termination reason, or `truncated` for an episode cut at its token budget)."""
    count = max(1, len(transcripts))
    trainer._log_metric("tau2/turns", sum(t.turns for t in transcripts) / count)
    trainer._log_metric("tau2/malformed_calls", sum(t.malformed for t in transcripts) / count)
    trainer._log_metric("tau2/truncated", sum(t.truncated for t in transcripts) / count)
    trainer._log_metric("tau2/success", sum(reward >= 1.0 - 1e-6 for reward in rewards) / count)
    for reason, seen in Counter(endings).items():
        trainer._log_metric(f"tau2/termination/{reason}", seen / count)


def trainer_class() -> type:
    from trl import GRPOTrainer

    class Tau2GRPOTrainer(GRPOTrainer):  # type: ignore[misc]  # (Any base class)
        """GRPOTrainer that keeps each batch's dataset rows, so that the rollout knows the prompts' task ids."""

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> Any:
            self.taustack_batch = inputs
            return super()._generate_and_score_completions(inputs)

    return Tau2GRPOTrainer


def build_trainer(recipe: GrpoRecipe, model_path: str, output: Path, reward_funcs: list[Any] | None = None,
                  tasks: Path | None = None) -> Any:
    """The GRPO trainer of a recipe; reward_funcs replace tau2's reward (a Python caller's own rewards); `tasks`:
    where environment.tasks' file is here (the run directory's copy)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig

    cpu = not torch.cuda.is_available()
    if recipe.values.use_vllm and importlib.util.find_spec("vllm") is None:
        raise TrainingError("grpo.use_vllm: this trainer image has no vLLM; build the vLLM trainer "
                            "(docker build -f docker/trainer.Dockerfile --build-arg VLLM=1 ...: see its header)")
    selection = recipe.tasks() if tasks is None else select_file_tasks(
        recipe.environment.domain, tasks, recipe.environment.task_ids, recipe.environment.num_tasks,
        recipe.environment.mode == "solo")
    quiet_libraries()
    task_set = registered_task_set(selection)
    preflight_user(recipe)
    tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = task_dataset(selection, task_set)
    where = "CPU" if cpu else f"{torch.cuda.device_count()} GPU(s)"
    print(f"[taustack] {len(selection.task_ids)} {selection.domain} tasks ({selection.split} split, "
          f"{'solo' if selection.solo else 'user simulator'}), {where}"
          + (f"; {len(selection.without_ticket)} left out (no ticket)" if selection.without_ticket else ""), flush=True)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32 if cpu else "auto")
    trainer = trainer_class()(
        model=model,
        reward_funcs=reward_funcs or [tau2_reward],
        args=GRPOConfig(**grpo_arguments(recipe, output, cpu)),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.lora}) if recipe.method == "lora" else None,
        callbacks=[metrics_callback(output / "metrics.jsonl")],
        rollout_func=make_rollout(recipe, selection, tokenizer, task_set),
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def quiet_libraries() -> None:
    """tau2 and litellm as `eval run` has them (tau2_26_3.quiet_imports: errors only, no cost-map download), TRL's
    experimental-feature notices off, and transformers' renaming notices (gradient_checkpointing, which TRL sets)
    once per generation dropped."""
    import warnings

    from taustack.eval.tau2_26_3 import quiet_imports

    quiet_imports()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def train(recipe: GrpoRecipe, model_path: str, output: Path, resume: bool, tasks: Path | None = None) -> None:
    trainer = build_trainer(recipe, model_path, output, tasks=tasks)
    train_or_resume(trainer, output, resume)
    if trainer.is_world_process_zero():
        save_trained(trainer, trainer.processing_class, output, recipe.method)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taustack.trainer.grpo", description=__doc__)
    parser.add_argument("--recipe", type=Path, required=True)
    parser.add_argument("--model", required=True, help="model folder or Hugging Face id")
    parser.add_argument("--output", type=Path, required=True, help="the run directory")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    parser.add_argument("--tasks", type=Path, default=None, help="environment.tasks' file, as mounted here")
    args = parser.parse_args(argv)
    try:
        train(load_grpo_recipe(args.recipe), args.model, args.output, args.resume, args.tasks)
    except (TrainingError, TemplateError) as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
