"""Reads the aggregates back for the API and the CLI; never writes.

Every view is a function of a ``ReadContext`` (client, keys, retention) and a ``Window``, and
returns the API's JSON document. Without a window, views read the running aggregates (one
pipeline, a handful of keys). A ``since``/``until`` window sums the daily buckets it covers:
report counts at hour resolution, breakdowns (chains, apps, results, pin sets) at day
resolution.

| module    | holds                                                                    |
|-----------|--------------------------------------------------------------------------|
| context   | ReadContext, what every view reads through                               |
| replies   | Redis replies decoded: text, ranked pairs, RFC 3339 times, PFCOUNT       |
| windows   | Window and the daily buckets a window touches                            |
| params    | what callers may ask: cursors, the page size limit, fingerprints         |
| rankings  | one page of a ranking, global or summed over a window's days             |
| chains    | the chain list and view, certificate pins, pins that would pass          |
| summary   | the summary view                                                         |
| hosts     | the host list and the host view, with pin advice and hard-fail readiness |
| timeline  | a host's reports per hour or per day                                     |

Each module imports only modules above it in this table, so there is no cycle to dodge.
"""
