"""Developer tools of the checkout (benchmarks, evaluation tables, model shipping), run from the repository root as `python -m tools.<name>`."""
