"""The Faust stream processors: topics, agents, tables, window arithmetic, metrics exporter."""
