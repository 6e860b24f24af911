"""Operations: Kafka, Prometheus and Alertmanager configuration, and the local stack runner."""
