"""Grafana dashboards and alert rules as code, their generated JSON, the publisher.

`promql` holds the queries, `panels` the house style on top of grafana-foundation-sdk,
`boards` the dashboards, `alerts` the Grafana-managed alert rules, `render` the committed
files (`cashless dashboards build`), `queries` every expression for tests that run them, and
`publish` the push to a running Grafana (`cashless dashboards push`). Nothing heavy is
imported here, so the command line starts fast.
"""
