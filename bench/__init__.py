"""``make bench``: throughput against a baseline workflow, intake latency, memory per open case,
timer accuracy under a burst, and one against two worker processes (README, Performance;
``bench/parts.py``)."""
