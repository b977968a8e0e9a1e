"""Benchmarks for the SPEC §7 targets and issue 12's; ``bench/run.py`` is the entry point
(``make bench``).

servers      starts and stops the collector, bare gunicorn apps and their logs
load         drives load: wrk POSTs, sequential keep-alive GETs, the posted report body
data         synthetic chains and reports, written straight through ReportStore
throughput   part 1: collector vs. baseline vs. parse+validate ceiling under wrk
memory       part 2: Redis memory after 100 k and 200 k reports
queries      part 3: read latency over 10 k aggregated hosts
alerts       part 4: throughput with alerts firing at hung receivers vs. alerts off
redis_cpu    part redis: Redis CPU per report (storm, diverse), cluster balance, writers
report       every line the parts print
targets      the targets the figures are checked against
new_hosts.lua  the wrk script of the alerts part: a new hostname per request
"""
