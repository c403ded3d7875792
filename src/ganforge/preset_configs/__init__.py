"""Preset configs, one YAML file each."""
