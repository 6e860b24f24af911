"""The composition root: the `cashless` command line and `cashless demo` wire the apps together.

Apps (producers, streams, dashboards, ops) import only the core (`cashless`); this package is the
one place that imports them all, and nothing imports it.
"""
