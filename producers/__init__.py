"""Event sources: simulator, file replay, HTTP gateway, the edge anonymiser, the Kafka producer."""
