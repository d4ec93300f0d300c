"""Agent replay: the real tau2 episodes the repo carries, replayed through tau2 26.3's own orchestrator, environment
and evaluator (run_task, EvaluationType.ALL), with an endpoint that answers both sides from the recording.

The endpoint (bench/agent_replay/endpoint.py, a thread of each process) answers the user simulator
(openai/replay-user) with the recorded user turns and the agent (openai/replay-agent) with the recorded assistant
messages, and checks every request against the recording so far (matching.py): a lost system policy, tool result or
turn, or a dispatched tool call that differs from the recorded one (name and parsed-JSON arguments) fails the replay.

    baseline     no faults, every episode, stock llm_agent: the episodes that reproduce their recorded reward are
                 the denominator (the others are listed, grouped by reason); then each other agent on it, less the
                 few whose recording holds a real tool call leaked into the agent's text (recorded-leaks: an agent
                 that repairs it leaves the recording; replayed apart, and what it dispatched there is shown)
    corpus-10    10% of agent turns faulted from bench/agent_replay/faults.json (real malformed model outputs)
    heldout-10   10% from faults_heldout.json (variants the repair code was not written against)
    context      the longest telecom episodes with the endpoint enforcing a context limit below the episode's peak
                 (vLLM's 400 past it); V2 told the limit (context.served_context_tokens)

Agents side by side: llm_agent (tau2's) and llm_agent_v2 (taustack's LLMAgentV2, registered by
taustack.agents.register; skipped with a message while that module does not exist). Prints a table and the targets;
exit 0 unless --check and a target is missed. `make bench-agent`; `--ci` is a fixed small sample (< 5 min, 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(ROOT / "src") not in sys.path:
    sys.path.insert(1, str(ROOT / "src"))

from agent_replay import agents, harness  # noqa: E402 - after the path set-up above
from agent_replay.episodes import Episode, load_episodes, recorded_leaks  # noqa: E402
from agent_replay.report import (  # noqa: E402
    Target,
    exclusion_reasons,
    format_table,
    repairs_by_kind,
    rows,
    unfaulted_repairs,
)
from agent_replay.runner import EpisodeResult, Job, tau2_side  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--agents", default=f"{agents.STOCK},{agents.V2}",
                        help="comma-separated tau2 agent names (default: llm_agent,llm_agent_v2)")
    parser.add_argument("--ci", action="store_true", help="a fixed small sample that finishes in < 5 min on 2 cores")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json-out", type=Path, help="write every row, target and episode result here")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--settings", default="baseline,corpus-10,heldout-10,context",
                        help="which settings to run after the baseline (always run)")
    parser.add_argument("--seed", type=int, default=harness.SEED, help="the fault draw's seed")
    return parser.parse_args(argv)


def import_tau2() -> float:
    """tau2 imported once (the workers are forked after this), quiet, with the key/mcp patch on its completion."""
    started = time.perf_counter()
    from taustack.eval.tau2_26_3 import quiet_imports, use_keys_by_base_url

    quiet_imports()
    import litellm
    import tau2.run  # noqa: F401
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="CRITICAL")
    litellm.suppress_debug_info = True
    use_keys_by_base_url({})  # litellm 1.106 imports the absent `mcp` package whenever tools are passed, unless told
    return time.perf_counter() - started


def choose_agents(requested: str) -> tuple[list[str], list[str]]:
    chosen, notes = [], []
    for name in [part.strip() for part in requested.split(",") if part.strip()]:
        if name == agents.V2:
            message = agents.register_v2()
            if message:
                notes.append(message)
                continue
        chosen.append(name)
    return chosen, notes


def context_jobs(baseline: Sequence[EpisodeResult], denominator: Sequence[Episode], names: Sequence[str],
                 count: int, folder: Path, seed: int) -> tuple[list[Job], dict[str, int]]:
    """The COUNT telecom episodes of the denominator with the highest peak request, each with its own limit."""
    by_key = {result.key: result for result in baseline}
    telecom = sorted((e for e in denominator if e.domain == "telecom"),
                     key=lambda e: -by_key[e.key].replay.get("peak_tokens", 0))[:count]
    jobs, limits = [], {}
    for episode in telecom:
        replay = by_key[episode.key].replay
        limit = harness.context_limit(replay["first_tokens"], replay["peak_tokens"])
        limits[episode.key] = limit
        for name in names:
            config = None
            if name == agents.V2:
                config = str(agents.write_config(folder / f"context-{limit}.yaml", served_context_tokens=limit))
            jobs.append(Job(episode=episode, agent=name, setting=harness.CONTEXT, seed=seed, context_limit=limit,
                            agent_config=config))
    return jobs, limits


def targets(results: Sequence[EpisodeResult], names: Sequence[str], settings: Sequence[str]) -> list[Target]:
    found = []

    def of(setting: str, agent: str) -> list[EpisodeResult]:
        return [r for r in results if r.setting == setting and r.agent == agent]

    for name in names:
        members = of("baseline", name)
        if name != agents.STOCK or members:
            good = sum(r.reproduced for r in members)
            found.append(Target(f"baseline: {name} reproduces 100% of the denominator", good == len(members),
                                f"{good}/{len(members)}"))
    if agents.V2 in names:
        if "corpus-10" in settings:
            members = of("corpus-10", agents.V2)
            good = sum(r.reproduced for r in members)
            share = good / len(members) if members else 0.0
            found.append(Target("corpus-10: llm_agent_v2 reproduces >= 95%", share >= 0.95,
                                f"{good}/{len(members)} = {share:.1%}"))
        if harness.CONTEXT in settings:
            members = of(harness.CONTEXT, agents.V2)
            valid = [r for r in members if r.error is None and not r.replay.get("failure") and not r.sequence_problem]
            found.append(Target("context: llm_agent_v2 finishes every episode with a valid message sequence",
                                bool(members) and len(valid) == len(members), f"{len(valid)}/{len(members)}"))
    if harness.CONTEXT in settings and agents.STOCK in names:
        members = of(harness.CONTEXT, agents.STOCK)
        failed = [r for r in members if r.error is not None or r.replay.get("failure")]
        found.append(Target("context: llm_agent fails (the limit is really below what it sends)",
                            bool(members) and len(failed) == len(members), f"{len(failed)}/{len(members)} failed"))
    return found


def result_dict(result: EpisodeResult) -> dict[str, Any]:
    return {"key": result.key, "agent": result.agent, "setting": result.setting, "reproduced": result.reproduced,
            "reason": result.reason, "recorded_reward": result.recorded_reward, "reward": result.reward,
            "termination": result.termination, "error": result.error, "sequence_problem": result.sequence_problem,
            "seconds": round(result.seconds, 2),
            "replay": {k: v for k, v in result.replay.items() if k != "traceback"},
            "turns": [{"turn": t.turn, "matched": t.matched, "repairs": t.repairs} for t in result.turns]}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    import_seconds = import_tau2()
    names, notes = choose_agents(args.agents)
    for note in notes:
        print(note)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    everything = load_episodes()
    sample = harness.ci_sample(everything) if args.ci else everything
    context_count = harness.CONTEXT_EPISODES_CI if args.ci else harness.CONTEXT_EPISODES
    context_pool = harness.longest_telecom(everything, context_count) if harness.CONTEXT in settings else []
    sample_keys = {episode.key for episode in sample}
    pool_keys = {episode.key for episode in context_pool}
    episodes = sample + [episode for episode in context_pool if episode.key not in sample_keys]
    print(f"agent replay: {len(episodes)} recorded episodes{' (the --ci sample)' if args.ci else ''}, agents "
          f"{', '.join(names) or '-'}, {args.workers} workers, tau2 {_tau2_version()} imported in "
          f"{import_seconds:.1f}s")

    baseline = harness.run_jobs(harness.jobs_for(harness.BASELINE, [agents.STOCK], episodes), args.workers,
                                "baseline llm_agent")
    reproduced = {result.key for result in baseline if result.reproduced}
    denominator = [episode for episode in episodes if episode.key in reproduced]
    print(f"\ndenominator: {len(denominator)} of {len(episodes)} episodes reproduce their recorded reward under "
          f"tau2 26.3 with the stock agent; {len(episodes) - len(denominator)} do not:")
    ended = {episode.key: episode.termination for episode in episodes}
    for reason, count in exclusion_reasons(baseline, ended).most_common():
        keys = [r.key for r in baseline if not r.reproduced and exclusion_reasons([r], ended).get(reason)]
        print(f"  {count:3d}  {reason}\n       {', '.join(keys)}")
    side = tau2_side()
    leaks = {e.key: recorded_leaks(e, set(side.domain(e.domain)[1])) for e in denominator}
    compared = [episode for episode in denominator if episode.key in sample_keys and not leaks[episode.key]]
    leaky = [episode for episode in denominator if episode.key in sample_keys and leaks[episode.key]]
    if leaky:
        print(f"  of these, {len(leaky)} hold a real tool call leaked into the agent's text by the recorded model "
              f"({', '.join(e.key for e in leaky)}): an agent that repairs it leaves the recording, so they are "
              f"replayed apart (recorded-leaks); the settings below use the other {len(compared)}")

    with tempfile.TemporaryDirectory(prefix="agent-replay-") as tmp:
        folder = Path(tmp)
        v2_config = str(agents.write_config(folder / "v2-bench.yaml")) if agents.V2 in names else None

        def config_for(agent: str) -> str | None:
            return v2_config if agent == agents.V2 else None

        others = [name for name in names if name != agents.STOCK]
        jobs = harness.jobs_for(harness.BASELINE, others, compared, args.seed, config_for)
        jobs += harness.jobs_for(harness.RECORDED_LEAKS, others, leaky, args.seed, config_for)
        for setting in (harness.CORPUS_10, harness.HELDOUT_10):
            if setting.name in settings:
                jobs += harness.jobs_for(setting, names, compared, args.seed, config_for)
        limits: dict[str, int] = {}
        if harness.CONTEXT in settings:
            candidates = [e for e in denominator if e.key in pool_keys or (not args.ci and e.domain == "telecom")]
            extra, limits = context_jobs(baseline, candidates, names, context_count, folder, args.seed)
            jobs += extra
        measured = harness.run_jobs(jobs, args.workers, "fault and context settings")

    compared_keys = {episode.key for episode in compared}
    kept_baseline = [r for r in baseline if r.key in compared_keys] if agents.STOCK in names else []
    results = kept_baseline + [r for r in measured if r.setting != harness.RECORDED_LEAKS.name]
    table = rows(results)
    print("\n" + format_table(table))
    v2_results = [r for r in measured if r.agent == agents.V2 and r.setting != harness.RECORDED_LEAKS.name]
    if v2_results:
        print("\nllm_agent_v2 repairs by kind (messages repaired / of them matching the recording):")
        for kind, counts in sorted(repairs_by_kind(v2_results).items()):
            print(f"  {kind:<28} {counts['messages']:5d} / {counts['matched']:5d}")
        print(f"  repairs on turns the endpoint did not fault: {unfaulted_repairs(v2_results)}")
    leak_results = [r for r in measured if r.setting == harness.RECORDED_LEAKS.name]
    if leak_results:
        print(f"\nrecorded-leaks: {len(leak_results)} replays of the episodes whose recording holds a leaked call")
        for result in leak_results:
            first = min(leaks[result.key])
            turn = next((t for t in result.turns if t.turn == first), None)
            leaked = sorted([call.name, call.arguments] for call in leaks[result.key][first])
            dispatched = sorted([call.name, call.arguments] for call in turn.calls) if turn is not None else sorted(
                result.replay.get("divergent_calls") or [])
            verdict = ("dispatched the leaked call" if dispatched and dispatched == leaked
                       else "kept the text" if turn is not None and turn.matched else "did something else")
            print(f"  {result.agent:<13} {result.key:<36} first leak at agent turn {first}: {verdict}; "
                  f"{result.reason or 'reproduced'}")
    if limits:
        print("\ncontext limits (tokens, chars/4 of the request's messages and tools JSON):")
        for key, limit in limits.items():
            print(f"  {limit:6d}  {key}")
        for result in [r for r in measured if r.setting == harness.CONTEXT]:
            outcome = "finished" if result.error is None and not result.replay.get("failure") else "failed"
            print(f"  {result.agent:<13} {outcome} ({result.reason or 'reproduced'}); rejected "
                  f"{result.replay.get('context_rejections', 0)}, trimmed requests "
                  f"{result.replay.get('trimmed_requests', 0)} (most dropped {result.replay.get('most_dropped', 0)}, "
                  f"{result.replay.get('same_side_joins', 0)} joining two same-side messages), "
                  f"sequence {'valid' if not result.sequence_problem else result.sequence_problem}  {result.key[:60]}")
    found = targets(results, names, settings)
    print("\ntargets:")
    for target in found:
        print("  " + target.line())
    if agents.V2 not in names:
        print(f"  [not evaluated] the {agents.V2} targets (corpus-10 >= 95%, context): {agents.V2} did not run")
    elapsed = time.perf_counter() - started
    print(f"\n{len(baseline) + len(measured)} replays in {elapsed:.0f}s ({args.workers} workers)")
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "agents": names, "notes": notes, "ci": args.ci, "seconds": round(elapsed, 1),
            "denominator": sorted(reproduced), "compared": sorted(compared_keys),
            "recorded_leaks": sorted(e.key for e in leaky), "excluded": dict(exclusion_reasons(baseline, ended)),
            "context_limits": limits, "rows": [row.as_dict() for row in table],
            "targets": [{"name": t.name, "met": t.met, "detail": t.detail} for t in found],
            "episodes": [result_dict(result) for result in baseline + measured]}, indent=2))
    missed = [target for target in found if not target.met]
    return 1 if args.check and missed else 0


def _tau2_version() -> str:
    from taustack.eval.tau2_26_3 import installed_version

    return installed_version()


if __name__ == "__main__":
    sys.exit(main())
