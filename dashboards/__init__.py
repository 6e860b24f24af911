"""Grafana dashboards and alert rules as code, their generated JSON, the publisher."""
