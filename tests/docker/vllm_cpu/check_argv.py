"""Run inside taustack/vllm-cpu: parse each argv (a JSON list of `vllm serve` argument lists on stdin) with vLLM's own
CLI (`vllm serve`'s parser and its validation; nothing starts), look its parsers up as the server does at start, and
print a JSON list: for each argv ok, or the error vLLM gave."""

from __future__ import annotations

import contextlib
import io
import json
import sys


def main() -> None:
    from vllm.entrypoints.cli import main as cli
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager

    parsed: list[dict[str, object]] = []
    ServeSubcommand.cmd = staticmethod(lambda args: parsed.append(vars(args)))  # type: ignore[method-assign]
    results = []
    for argv in json.load(sys.stdin):
        sys.argv = ["vllm", "serve", *argv]
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                cli.main()
            args = parsed[-1]
            if args.get("tool_call_parser"):
                ToolParserManager.get_tool_parser(str(args["tool_call_parser"]))
            if args.get("reasoning_parser"):
                ReasoningParserManager.get_reasoning_parser(str(args["reasoning_parser"]))
            results.append({"argv": argv, "ok": True, "model": parsed[-1].get("model_tag")})
        except SystemExit as exc:
            results.append({"argv": argv, "ok": False, "error": errors.getvalue().strip().splitlines()[-1:],
                            "code": exc.code})
        except Exception as exc:  # a validation error of vLLM's
            results.append({"argv": argv, "ok": False, "error": [f"{type(exc).__name__}: {exc}"]})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
