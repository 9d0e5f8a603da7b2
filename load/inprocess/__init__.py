"""The only part of `load/` that runs the service's own code in its process.

Everything else in `load/` — the Locust scenarios, the wrk driver (`load.bench` and its
`load.bench_*` modules), the HTTP clients and seeding, the fixtures — speaks HTTP and the
`khaibao` CLI only, as a phone, an operator or a deployed service's load test would
(tests/test_architecture.py checks it).
What is here cannot:

* `profiler`: one endpoint called as ASGI in this process, CPU per request of each thread
  (`python -m load.inprocess scan`);
* `benchapp`: the app as served plus the bench-only no-op routes, the factory `khaibao
  bench` starts;
* `faq`, `worklist`: the bench's direct-store seeders, for bases the API would take hours
  to fill (and would benchmark writing instead);
* `storage_bench`, `bench_reports`, `microbench`: the storage, report and crypto
  micro-benchmarks, which measure the service's functions without HTTP.
"""
