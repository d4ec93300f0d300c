"""`taustack eval run`: tau2-bench against the stack (imports the eval package when it runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from taustack.errors import TaustackError


def model_options(role: str, what: str) -> list[Any]:
    return [
        click.option(f"--{role}-url", default=None,
                     help=f"the {what}'s OpenAI-compatible server (a balancer, any base URL); default: the gateway"),
        click.option(f"--{role}-key-env", default=None, metavar="VAR",
                     help=f"the variable holding the key for --{role}-url (the key itself is never recorded)"),
        click.option(f"--{role}-args", default=None, metavar="JSON",
                     help=f"sampling args for the {what}, merged into tau2's ({{\"temperature\": 0.0}})"),
    ]


def run_options(function: Any) -> Any:
    options = [
        click.option("--agent-model", "agent_models", multiple=True, metavar="NAME",
                     help="the agent's model (a gateway name, or the name at --agent-url); repeat for a grid"),
        *model_options("agent", "agent"),
        click.option("--user-model", default=None, metavar="NAME", help="the user simulator's model"),
        *model_options("user", "user simulator"),
        click.option("--judge-model", default=None, metavar="NAME",
                     help="grades natural-language assertions (with --nl-assertions)"),
        *model_options("judge", "judge"),
        click.option("--domain", "domains", multiple=True,
                     help="airline, retail, telecom, telecom-workflow or mock; repeat for a grid"),
        click.option("--mode", "modes", multiple=True,
                     help="default, no-user (solo: tasks with tickets) or oracle-plan; repeat for a grid"),
        click.option("--agent", default="llm_agent", show_default=True,
                     help="an agent registered with tau2 (taustack adds llm_agent_v2)"),
        click.option("--agent-config", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="llm_agent_v2's config (default: agents/v2.yaml's values); ablations in agents/ablations/"),
        click.option("--split", default=None, help="task split (default: base; test for a model taustack trained)"),
        click.option("--task-id", "task_ids", multiple=True, help="run these tasks only (repeat)"),
        click.option("--num-tasks", type=int, default=None, help="the first N tasks of the split"),
        click.option("--tasks", "tasks_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="a task file (tau2 tasks JSON, e.g. from `taustack tasks generate`) instead of the "
                          "domain's own tasks; registered with tau2 at run time"),
        click.option("--trials", type=int, default=4, show_default=True,
                     help="trials per task (one trial has ~7 points of standard error on airline)"),
        click.option("--seed", type=int, default=300, show_default=True, help="tau2's seed (per-trial seeds from it)"),
        click.option("--max-steps", type=int, default=200, show_default=True),
        click.option("--max-errors", type=int, default=10, show_default=True),
        click.option("--max-retries", type=int, default=3, show_default=True, help="litellm retries per call"),
        click.option("--concurrency", type=int, default=3, show_default=True, help="simulations at once per cell"),
        click.option("--parallel", type=int, default=1, show_default=True, help="cells at once"),
        click.option("--nl-assertions", is_flag=True,
                     help="also grade natural-language assertions with --judge-model (not leaderboard-comparable)"),
        click.option("--skip-preflight", is_flag=True, help="do not check that each endpoint answers a tool call"),
        click.option("--name", default=None, help="the run directory's name (default: from the models and time)"),
        click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("evals"), show_default=True,
                     help="where run directories go"),
        click.option("--generated-dir", envvar="TAUSTACK_GENERATED_DIR", type=click.Path(path_type=Path),
                     default=None, help="the stack's rendered files, to find its gateway (default: compose/generated)"),
        click.option("--resume", "resume_path", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
                     help="continue an interrupted run: only its missing simulations run"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("run")
@run_options
def run(**options: Any) -> None:
    """Run tau2-bench: each agent model x domain x mode is one tau2 run in its own process."""
    from taustack.console import stderr_console
    from taustack.eval.endpoints import ModelChoice, parse_args_json
    from taustack.eval.plan import RunRequest
    from taustack.eval.run import new_run, resume_run
    from taustack.workspace import Workspace, find_root

    console = stderr_console()
    generated = options["generated_dir"]
    workspace = Workspace(find_root(), generated=generated.resolve() if generated else None)
    if options["resume_path"] is not None:
        outcome = resume_run(options["resume_path"], workspace, options["parallel"], options["skip_preflight"],
                             console)
    else:
        if not options["agent_models"]:
            raise click.UsageError("--agent-model is needed (or --resume RUN_DIR)")
        if not options["domains"]:
            raise click.UsageError("--domain is needed (or --resume RUN_DIR)")

        def choice(role: str, name: str | None) -> ModelChoice | None:
            if name is None:
                return None
            return ModelChoice(role, name, options[f"{role}_url"], options[f"{role}_key_env"],
                               parse_args_json(role, options[f"{role}_args"]))

        agents = [c for c in (choice("agent", n) for n in options["agent_models"]) if c is not None]
        name = options["name"] or default_name(options["agent_models"])
        request = RunRequest(
            name=name, agent_models=agents, user_model=choice("user", options["user_model"]),
            judge_model=choice("judge", options["judge_model"]), domains=list(options["domains"]),
            modes=list(options["modes"]) or ["default"], agent=options["agent"], split=options["split"],
            task_ids=list(options["task_ids"]), num_tasks=options["num_tasks"], trials=options["trials"],
            seed=options["seed"], max_steps=options["max_steps"], max_errors=options["max_errors"],
            concurrency=options["concurrency"], max_retries=options["max_retries"],
            nl_assertions=options["nl_assertions"], agent_config=options["agent_config"],
            tasks_file=options["tasks_file"])
        outcome = new_run(request, options["runs_dir"], workspace, options["parallel"], options["skip_preflight"],
                          ["taustack", *sys.argv[1:]], console)
    where = outcome.run_dir.path
    if outcome.failed_cells:
        logs = ", ".join(f"logs/{c}.log" for c in outcome.failed_cells)
        raise TaustackError(f"{len(outcome.failed_cells)} cell(s) failed (see {logs} in {where}); the others are "
                            f"complete: taustack eval run --resume {where} runs what is missing")
    if outcome.infra_errors:
        raise TaustackError(f"{outcome.infra_errors} simulation(s) ended in an infrastructure error (causes in "
                            f"{where}/errors.jsonl): taustack eval run --resume {where} runs them again")
    console.print(f"done: {where} (taustack eval report {where})", highlight=False)


def default_name(models: tuple[str, ...]) -> str:
    import datetime
    import re

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "+".join(models))[:60].strip("-") + "-" + stamp
