"""Quality metrics: feature networks, a registry of metrics, evaluate()."""
