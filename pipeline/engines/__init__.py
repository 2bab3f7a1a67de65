"""Processing engines: where the stages' pure functions run (local: this process; ray: a cluster)."""

ENGINES = ("local", "ray")
