#!/usr/bin/env bash
# Stock tau2 agent vs LLMAgentV2 and each of its ablations on a GPU host, on the test split, 4 trials, paired.
# Not run by CI (no GPU there): it needs an NVIDIA GPU, Docker with the NVIDIA runtime, the vLLM image and the model
# in the HF cache, and OPENAI_API_KEY in .env for the user simulator (USER_MODEL, gpt-4.1 as the leaderboard uses).
#
#   bench/gpu_compare.sh                        # MODEL=Qwen/Qwen2.5-7B-Instruct SERVED=qwen2.5-7b GPUS=1
#   MODEL=Qwen/Qwen3-8B SERVED=qwen3-8b PARSER=hermes DOMAINS="airline retail telecom" bench/gpu_compare.sh
#
# Writes evals/gpu-compare-<served>/table.md: one row per agent config (pass^1 with its 95% interval, and the paired
# difference against the stock agent with its interval and p-value), from `taustack eval report` and `eval compare`.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
SERVED=${SERVED:-qwen2.5-7b}
PARSER=${PARSER:-hermes}
GPUS=${GPUS:-1}
USER_MODEL=${USER_MODEL:-gpt-4.1}
DOMAINS=${DOMAINS:-airline retail telecom}
TRIALS=${TRIALS:-4}
TAUSTACK=${TAUSTACK:-.venv/bin/taustack}
OUT=evals/gpu-compare-${SERVED}

make setup-eval
mkdir -p "$OUT"
cat > "$OUT/stack.yaml" <<YAML
vllm:
  model: $MODEL
  served_model_name: $SERVED
  gpus: $GPUS
  tool_call_parser: $PARSER
gateway:
  models:
    - {name: $SERVED, engine: vllm, model: $SERVED}
    - {name: $USER_MODEL, engine: openai, model: $USER_MODEL}   # needs OPENAI_API_KEY in .env
YAML
$TAUSTACK up --stack "$OUT/stack.yaml" --engine gateway   # vLLM behind nginx, and the gateway in front
domain_args=()
for domain in $DOMAINS; do domain_args+=(--domain "$domain"); done

run() {  # name, extra eval-run args...
  local name=$1; shift
  [ -d "$OUT/$name" ] && { $TAUSTACK eval run --resume "$OUT/$name"; return; }
  $TAUSTACK eval run --agent-model "$SERVED" --user-model "$USER_MODEL" "${domain_args[@]}" --split test \
    --trials "$TRIALS" --runs-dir "$OUT" --name "$name" "$@"
}

run stock --agent llm_agent
run v2 --agent llm_agent_v2 --agent-config agents/v2.yaml
for ablation in agents/ablations/*.yaml; do
  name=$(basename "$ablation" .yaml)
  run "v2-$name" --agent llm_agent_v2 --agent-config "$ablation"
done

{
  echo "# stock vs LLMAgentV2 on $SERVED ($MODEL, vLLM, parser $PARSER), test split, $TRIALS trials, user $USER_MODEL"
  echo
  echo "| config | pass^1 | 95% CI | diff vs stock (points) | 95% CI | p |"
  echo "|---|---|---|---|---|---|"
  for dir in "$OUT"/*/; do
    name=$(basename "$dir")
    $TAUSTACK eval report "$dir" --json > "$dir/report.stdout.json"
    if [ "$name" = stock ]; then
      echo '{}' > "$dir/compare.stdout.json"
    else
      $TAUSTACK eval compare "$OUT/stock" "$dir" --json > "$dir/compare.stdout.json"
    fi
    .venv/bin/python - "$name" "$dir/report.stdout.json" "$dir/compare.stdout.json" <<'PY'
import json, sys
name, report, compare = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
system = report["systems"][0] if report["systems"] else report["cells"][0]
row = system["pass_hat_k"][0]
pct = lambda v: "not estimable" if v is None else f"{100 * v:.1f}"
pts = lambda v: "not estimable" if v is None else f"{100 * v:+.1f}"
overall = compare.get("overall")
diff = (pts(overall["diff"]), f"[{pts(overall['ci_low'])}, {pts(overall['ci_high'])}]", f"{overall['p_value']:.3g}") \
    if overall else ("-", "-", "-")
print(f"| {name} | {pct(row['value'])} | [{pct(row['ci_low'])}, {pct(row['ci_high'])}] | {' | '.join(diff)} |")
PY
  done
} > "$OUT/table.md.tmp" && mv "$OUT/table.md.tmp" "$OUT/table.md"
cat "$OUT/table.md"
