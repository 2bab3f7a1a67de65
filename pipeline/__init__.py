"""Pipeline stages (batch in, batch out), their registry, the runner and the CLI."""
