"""The framework adapters, installed as ``guard_core.integrations``; each imports only its own
framework."""
