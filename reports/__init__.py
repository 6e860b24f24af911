"""`cashless report`: the adoption picture from Prometheus and Alertmanager, as a page, images,
a printable brief and the figures behind them, for people who never open Grafana."""
