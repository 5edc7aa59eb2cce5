"""Endpoints for the machines that run Caseflow: /healthz, /readyz, /metrics (README, "Production mode")."""
