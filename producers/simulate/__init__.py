"""The simulator: a synthetic Hanoi's payment and account events, into Kafka or a file.

One concept per module: `calibration` (the city's figures), `curves` (shapes over time),
`population` (residents and accounts), `faults` (what a broken feed does), `model` (the
`Simulator`), `truth` (what a worker must export for a run), `pacing` (history as fast as it
goes, live at a rate), `outputs` (a JSON Lines file or Kafka records).
"""
