"""The ``redis`` part's floor rows: why the diverse load costs what it does, in any design.

On the diverse load (1 k hosts x 10 chains) a batch almost never holds two reports of one
(host, chain) pair, so merging a batch saves nothing: each report pays for every counter it
moves (a hash field, a sorted-set member, a HyperLogLog). Two figures bound the cost per
report from below, whatever the script or key layout:

counters  how many distinct counters one steady-state diverse report changes in Redis (its
          host and pair existing already): the keys of its host's slot and of the global
          slots are read before and after writing it alone, and every hash field, sorted-set
          member and string (HyperLogLog, sketch) whose value changed counts once. (An HLL a
          known device does not change is not counted: the figure is a lower bound.)
counter   Redis CPU for one counter update with no script at all, the cheapest of: one
          pipelined HINCRBY per counter, or 20 counters of a hash read and written at once
          (HMGET then HSET, as a script does per hash); on 1 000 hashes of 20 short fields
          (a compact ziplist) and of 200 long ones (a hash table) (the process's CPU per
          counter; the commands' own time in commandstats beside it).

``counters x counter`` is then a floor no schema keeping those counters goes under, and
25 µs / counter is how many counters a report can afford within the diverse target.
"""

from __future__ import annotations

import random
from typing import Any

from bench.redis_cpu import Writer, _stats


def _snapshot(node: Any, patterns: list[str]) -> dict[tuple[bytes, bytes], bytes]:
    """(key, field or member or b"") -> value, for every key matching ``patterns``."""
    keys = sorted({k for p in patterns for k in node.scan_iter(match=p, count=1000)})
    pipe = node.pipeline(transaction=False)
    for k in keys:
        pipe.type(k)
    kinds = pipe.execute()
    pipe = node.pipeline(transaction=False)
    for k, kind in zip(keys, kinds, strict=True):
        if kind == b"hash":
            pipe.hgetall(k)
        elif kind == b"zset":
            pipe.zrange(k, 0, -1, withscores=True)
        elif kind == b"list":
            pipe.lrange(k, 0, -1)
        elif kind == b"stream":
            pipe.xlen(k)
        else:
            pipe.get(k)
    out: dict[tuple[bytes, bytes], bytes] = {}
    for k, kind, value in zip(keys, kinds, pipe.execute(), strict=True):
        if kind == b"hash":
            out.update(((k, f), v) for f, v in value.items())
        elif kind == b"zset":
            out.update(((k, m), repr(s).encode()) for m, s in value)
        else:
            out[(k, b"")] = repr(value).encode()
    return out


def counters_per_report(url: str, node: Any, reports: list[Any], samples: int = 10) -> float:
    """Distinct counters one report changes, averaged over ``samples`` reports written alone
    after ``reports`` (written in batches of 1 000 first)."""
    from collector.aggregates.keys import Keys

    w = Writer(url, "bench-floor")
    w.write(w.batches(reports, 1000))
    keys = Keys("pc")
    rng = random.Random(5)
    changed = 0
    for _ in range(samples):
        r = reports[rng.randrange(len(reports))]  # an existing host and pair
        tag = keys.host(r.hostname).meta.split(":meta")[0]
        patterns = [f"{tag}:*", "pc:{g}:*", "pc:{g:*}:*"]
        before = _snapshot(node, patterns)
        w.write(w.batches([r], 1))
        after = _snapshot(node, patterns)
        changed += sum(1 for k, v in after.items() if before.get(k) != v)
    w.client.close()
    return changed / samples


def _cost(node: Any, fields: list[str], n: int, rng: random.Random) -> dict[str, float]:
    """Process and in-command µs per counter on 1 000 hashes holding ``fields``: pipelined
    HINCRBY one counter at a time, and 20 at a time read (HMGET) then written (HSET)."""
    node.flushall()
    pipe = node.pipeline(transaction=False)
    for h in range(1000):
        pipe.hset(f"floor:{{h:{h}}}", mapping=dict.fromkeys(fields, 1))
    pipe.execute()
    keys = [f"floor:{{h:{rng.randrange(1000)}}}" for _ in range(n)]
    picks = [fields[rng.randrange(len(fields))] for _ in range(n)]
    node.config_resetstat()
    _, cpu0 = _stats(node)
    for i in range(0, n, 2000):
        pipe = node.pipeline(transaction=False)
        for key, field in zip(keys[i:i + 2000], picks[i:i + 2000], strict=True):
            pipe.hincrby(key, field, 1)
        pipe.execute()
    stats, cpu1 = _stats(node)
    out = {"hincrby_process_us": (cpu1 - cpu0) * 1e6 / n,
           "hincrby_command_us": stats["hincrby"]["usec"] / n}
    group = min(20, len(fields))
    node.config_resetstat()
    _, cpu0 = _stats(node)
    for i in range(0, n, 2000):
        pipe = node.pipeline(transaction=False)
        for j in range(i, i + 2000, group):
            chosen = rng.sample(fields, group)
            pipe.hmget(keys[j], chosen)
            pipe.hset(keys[j], mapping=dict.fromkeys(chosen, 2))
        pipe.execute()
    stats, cpu1 = _stats(node)
    out["rmw_process_us"] = (cpu1 - cpu0) * 1e6 / n
    out["rmw_command_us"] = (stats["hmget"]["usec"] + stats["hset"]["usec"]) / n
    return out


def counter_cost(node: Any, n: int = 100_000) -> dict[str, Any]:
    """The cheapest Redis CPU per counter update with no script, over two hash shapes: 20
    short fields (a compact ziplist) and 200 long ones (a hash table)."""
    rng = random.Random(7)
    shapes = {"20 short fields": [f"f{i}" for i in range(20)],
              "200 long fields": [f"q{i:064x}:n" for i in range(200)]}
    by_shape = {name: _cost(node, fields, n, rng) for name, fields in shapes.items()}
    best = min(v for costs in by_shape.values()
               for k, v in costs.items() if k.endswith("_process_us"))
    return {"by_shape": by_shape, "cheapest_process_us": best}
