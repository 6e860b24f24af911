"""The order of one `make bench` run: the stack, the dataset and its census, then each part."""

from __future__ import annotations

from bench.harness.progress import say
from bench.pipeline.contenders import census
from bench.pipeline.context import Bench
from bench.pipeline.dataset import load_dataset
from bench.pipeline.latency import latency
from bench.pipeline.plan import CONTENDERS
from bench.pipeline.producer_throughput import gateway, replay
from bench.pipeline.restart import restart
from bench.pipeline.throughput import throughput

__all__ = ["run"]


def run(bench: Bench) -> None:
    """Every wanted part of the benchmark, in order, into `bench.results`."""
    say(f"starting the stack under {bench.work}")
    bench.stack.up(progress=say)
    dataset = load_dataset(bench)
    census(bench, dataset)
    bench.results["dataset"] = dataset.summary(bench)
    if bench.only & set(CONTENDERS):
        throughput(bench, dataset)
    if "latency" in bench.only:
        latency(bench)
    if "restart" in bench.only:
        restart(bench, dataset)
    if "replay" in bench.only:
        replay(bench, dataset)
    if "gateway" in bench.only:
        bench.measure("gateway", lambda: gateway(bench))
