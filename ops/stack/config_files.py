"""The configuration files that ship in ops/ and that the stack renders or passes on."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ALERTMANAGER_YML",
    "CONFIG_DIR",
    "KAFKA_LOG4J",
    "KAFKA_POM",
    "KAFKA_SERVER_PROPERTIES",
    "PROMETHEUS_RULES_DIR",
    "PROMETHEUS_YML",
]

CONFIG_DIR = Path(__file__).resolve().parents[1]
KAFKA_POM = CONFIG_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J = CONFIG_DIR / "kafka" / "log4j2.yaml"
KAFKA_SERVER_PROPERTIES = CONFIG_DIR / "kafka" / "server.properties"
PROMETHEUS_YML = CONFIG_DIR / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES_DIR = CONFIG_DIR / "prometheus" / "rules"
ALERTMANAGER_YML = CONFIG_DIR / "alertmanager" / "alertmanager.yml"
