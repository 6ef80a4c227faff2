"""The rollout rehearsal: real Kubernetes control planes, Fleet's controller and agents, as plain
processes on 127.0.0.1 (DESIGN.md "Rehearsal"; the scenario is tests/rehearsal/)."""
