"""Reads the aggregates back for the API and the CLI; never writes.

Every view is a function of a ``ReadContext`` (client, keys, retention, classifier) and a
``Window``, and returns the API's JSON document. Without a window, views read the running
aggregates (one pipeline, a handful of keys). A ``since``/``until`` window sums the daily
buckets it covers: report counts at hour resolution, breakdowns (chains, apps, results, pin
sets) at day resolution. Every figure honours the window or its name ends in ``_all_time``;
one the stored data cannot give for a window is null there.

| module         | holds                                                                    |
|----------------|--------------------------------------------------------------------------|
| context        | ReadContext, what every view reads through                               |
| replies        | Redis replies decoded: text, ints, ranked pairs, times; OTHER; PFCOUNT   |
| windows        | Window and the daily buckets a window touches                            |
| classes        | classes as shown: stored, or recomputed when the classifier changed      |
| spans          | a window's sums over daily buckets, first/last seen inside it            |
| params         | what callers may ask: cursors, the page size limit, fingerprints         |
| rankings       | one page of a ranking, global or summed over a window's days             |
| certificates   | stored certificates: parsed, their pins cached, pins that would pass     |
| chain_classes  | the class each chain and each (host, chain) pair shows                   |
| triage         | the triage state each chain entry shows (pair's or issuer's record)      |
| chain_view     | the chain view with each host's pair class and its certificates          |
| chain_list     | the chain list by reports, filtered by class and by host                 |
| recommendation | a host's recommended pin set from its chains                             |
| pairs          | a host's (host, chain) pairs as the host view lists them                 |
| readiness      | a host's hard-fail readiness: losing service now, at risk, per app       |
| summary        | the summary view, hosts losing service now first                         |
| hosts          | the host list and the host view, with pin advice and hard-fail readiness |
| timeline       | reports per hour or per day of a host, a chain, a (host, chain) pair     |

Each module imports only modules above it in this table, so there is no cycle to dodge.
"""
