"""What `make bench`, `make soak` and the one-off measurements share: the checkout's paths, the
local stack on free ports, the processes they start, reading /metrics, and summary statistics."""
