"""`python -m load.inprocess scan`: the in-process profiler (load/inprocess/profiler.py)."""

from load.inprocess.profiler import main

main()
