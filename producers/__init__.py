"""Event sources: the simulator (`simulate`), file replay (`replay`), the HTTP gateway
(`gateway`), and what they share: the Kafka producer (`kafka_sink`), the record-batching rule
(`batching`), the token bucket (`token_bucket`) and the reference oracle (`ground_truth`)."""
