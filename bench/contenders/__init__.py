"""The programs `make bench` measures the worker against, each run as its own process:
the ceiling (`ceiling`), the naive Faust job (`naive_faust`) and the Quix Streams peer in its
three configurations (`quix_peer`), with what they share (`tally`, `options`)."""
