"""Datasets: IDX files found and verified, held in device memory, batched and augmented there."""
