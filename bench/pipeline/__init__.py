"""`make bench`: the pipeline measured side by side with its ceiling, a naive Faust job and a peer.

One run starts the real local stack (`ops.stack.Stack`) on free ports under a temporary
directory, loads one fixed simulator dataset into Kafka, then measures, each several times and
each as its own process reading the same topic from the beginning:

- ceiling: a bare aiokafka loop with the project's decoder and dict counters
           (bench/contenders/ceiling.py);
- naive:   a straightforward Faust agent with hopping-window tables
           (bench/contenders/naive_faust.py);
- peer-*:  Quix Streams in three configurations (bench/contenders/quix_peer.py): the same job
           with a hopping window aggregation (peer-hopping), a one-minute tumbling window
           (peer-tumbling) and a plain per-key State (peer-count); the ratios and targets
           compare ours with the fastest of them;
- ours:    `cashless worker`, timed until its /metrics shows every applied payment of the
           dataset's ground truth, then checked against the whole ground truth.

Then the produce -> /metrics latency of `cashless worker` at a fixed live rate (bench/live_load.py),
its catch-up after `kill -9` with 300,000 events behind (a worker killed part-way through the
dataset and restarted on its own local store, until /metrics shows the whole ground truth), and
the producer throughput of `cashless replay` (the dataset file) and of `cashless gateway`
(the load generator of tests/integration/test_gateway.py in a second process).

Results of a whole run go to bench/results/latest.json and docs/BENCHMARKS.md; `--quick` (a
small dataset, one repetition) and `--only` runs write .cashless/bench/quick.json or
partial.json only. After the timed runs of ours, one more run (not counted) is sampled with
py-spy from its first applied payment to its end: where its time goes, by part
(`bench/time_by_part.py`), is in the report, its stacks in .cashless/bench/ours-profile.txt. Every
process it starts, and the stack, is stopped at the end, also on error or Ctrl-C.

    .venv/bin/python -m bench.pipeline [--quick] [--only ceiling,naive,peer,ours,latency,...]

The modules: `plan` (the sizes of a run), `context` (one run's stack, processes and results),
`dataset`, `contenders`, `ours` (the worker's runs and its profile), `throughput`, `latency`,
`restart` (the catch-up after kill -9), `producer_throughput` (replay and gateway), `run` (the
order of it all), `machine`, `targets`, `report` (the Markdown page) and `__main__` (the command
line and the results file).
"""
