"""Blueprints of the web UI; each module registers one."""
