"""`make soak`: one worker under a steady live load for 30 minutes, killed and restarted halfway.

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 500]

Starts the real stack (`ops.stack.Stack`) on free ports in a temporary directory, with its
Prometheus scraping the worker every 5 s. `cashless simulate --rate R/s --duration D` sends live
events (event time = now, with 2% duplicates, 2% late or out of order, 0.5% bad records) into
fresh topics and writes the ground truth of everything it sent when it ends. One `cashless
worker` consumes them; halfway through it is killed with SIGKILL and started again with the
same --app-id, --state-dir and --web-port (so the same local store). Every 10 s a sample:
the worker's RSS (VmRSS) and open file descriptors (/proc/PID/fd), its CPU time, the consumer
lag of its group on the two input topics (end offset − committed offset, summed over
partitions, in records), the records in those topics, and the events /metrics has counted.

The checks, each a line of the summary (the exit status is 1 when one fails):

- `rss_flat`, `fds_flat`, per worker life, over the samples taken while the simulator sends:
  the median of the last third against the median of the middle third (the first third is the
  start-up and catch-up); RSS may grow by less than 10% and less than 50 MB, the descriptors
  other than RocksDB's table files by 5 at most;
- `sst_bounded`, per worker life: RocksDB's open table files never exceed 3 per database (its
  sorted run, a flushed memtable waiting to be merged into it, the merge's output); a new
  store gets its first files as each database first flushes, which can take the whole run;
- `lag_bounded`: after a 60 s warm-up, the lag stays under 60 s of input (the records per
  second of the run times 60), except right after the restart, where it must be back under
  that bound within 120 s of the kill;
- `truth`: within 300 s of the simulator's end, /metrics equals its ground truth, every series;
- `lag_drained`: then the group's committed offsets reach the end of both topics;
- `prometheus`: Prometheus's latest `sum(cashless_payments_total)` equals the truth's;
- `simulator`, `worker`: the simulator exited with 0, and the worker never exited by itself.

Samples go to .cashless/soak/<time>.csv, the summary to .cashless/soak/<time>.json (and
latest.json), the worker and simulator logs to .cashless/soak/<time>-logs/. Every process, and
the stack, is stopped at the end, also on error, Ctrl-C or SIGTERM.
"""
