"""compare() (the one orchestration entry point), scoring, metrics, results, disambiguation, export."""
