"""The agent replay benchmark's machinery (bench/agent_replay.py runs it): recorded tau2 episodes replayed through
tau2 26.3's real orchestrator, environment and evaluator against an endpoint that answers both sides from the
recording, checks every request, and injects faults from a corpus of real malformed model outputs."""
