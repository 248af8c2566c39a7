"""The comparison tooling behind ``ssl-pipelines sweep`` / ``results``: what is not one method's
training (planning, running and resuming sweeps, reading their MLflow runs, tables)."""
