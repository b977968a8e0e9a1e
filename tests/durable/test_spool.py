"""Spool durability contract (reliability.md §6.5, F13, F14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest

from collector.durable.frames import HEADER, frame
from collector.durable.spool import Spool, SpoolFull, SpoolUnavailable

ROOT = Path(__file__).resolve().parents[2]


def recs(n: int, prefix: str = "r") -> list[bytes]:
    return [json.dumps({"id": f"{prefix}{i}", "pad": "x" * 40}).encode() for i in range(n)]


class Sink:
    """apply() stand-in; fails on chosen calls to mimic Redis going away mid-drain."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.got: list[bytes] = []
        self.batches: list[int] = []
        self.calls = 0
        self.fail_on = fail_on or set()

    def __call__(self, batch: list[bytes]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("redis down")
        self.got.extend(batch)
        self.batches.append(len(batch))


def segs(d: Path) -> list[Path]:
    return sorted(d.glob("*.seg"))


def run_py(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def test_round_trip_in_order_and_segment_deleted(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "missing" / "spool", owner="w1")  # directory is created
    data = recs(25)
    sp.append(data[:1])
    sp.append(data[1:])
    assert sp.depth().segments == 1 and sp.depth().bytes > 0
    sink = Sink()
    assert sp.drain(sink, batch=10) == 25
    assert sink.got == data and sink.batches == [10, 10, 5]
    assert segs(tmp_path / "missing" / "spool") == []
    assert sp.depth().bytes == 0 and sp.depth().oldest_age_seconds is None
    sp.append([b"after"])  # rotation left the spool writable
    assert sp.drain(sink) == 1 and sink.got[-1] == b"after"
    assert sp.stats() == {"appended": 26, "drained": 26, "torn": 0, "quarantined": 0,
                          "dead_lettered": 0, "refused": 0}
    assert sorted(os.listdir(tmp_path / "missing" / "spool")) == ["drain.lock", "w1.owner"]


def test_apply_failure_keeps_rest_and_resumes_exactly(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    data = recs(10)
    sp.append(data)
    sink = Sink(fail_on={3})
    with pytest.raises(ConnectionError):
        sp.drain(sink, batch=3)
    assert sink.got == data[:6]
    assert len(segs(tmp_path)) == 1  # not deleted: records remain unacknowledged
    # A fresh instance (as after a restart) resumes from the committed offset.
    sink2 = Sink()
    assert Spool(tmp_path, owner="w2").drain(sink2, batch=3) == 4
    assert sink2.got == data[6:]
    assert segs(tmp_path) == [] and not list(tmp_path.glob("*.off"))


@pytest.mark.parametrize("keep", [0, 1, HEADER.size - 1, HEADER.size, HEADER.size + 5])
def test_torn_tail_is_skipped(tmp_path: Path, keep: int) -> None:
    """keep = bytes of the last frame that reached the disk (header cut, or payload cut)."""
    sp = Spool(tmp_path, owner="w1")
    data = recs(3)
    sp.append(data)
    sp.close()
    seg = segs(tmp_path)[0]
    os.truncate(seg, 2 * len(frame(data[0])) + keep)
    sink = Sink()
    assert sp.drain(sink) == 2 and sink.got == data[:2]
    assert (sp.torn, sp.quarantined) == ((1 if keep else 0), 0)
    assert segs(tmp_path) == []


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    sp.append(recs(2))
    sp.close()
    with open(segs(tmp_path)[0], "ab") as f:
        f.write(b"\0" * 4096)
    sink = Sink()
    assert sp.drain(sink) == 2 and sp.torn == 1 and sp.quarantined == 0


@pytest.mark.parametrize("where", ["magic", "length", "payload"])
def test_corrupt_middle_record_quarantined(tmp_path: Path, where: str) -> None:
    sp = Spool(tmp_path, owner="w1")
    data = recs(5)
    sp.append(data)
    sp.close()
    seg = segs(tmp_path)[0]
    raw = bytearray(seg.read_bytes())
    start = len(frame(data[0]))  # record 1 begins here
    raw[start + {"magic": 1, "length": 6, "payload": HEADER.size + 7}[where]] ^= 0x40
    seg.write_bytes(bytes(raw))
    sink = Sink()
    assert sp.drain(sink) == 4
    assert sink.got == [data[0], *data[2:]]
    assert sp.quarantined == 1 and sp.torn == 0
    (bad,) = (tmp_path / "quarantine").iterdir()
    assert bad.name == f"{seg.name}.{start}.bad"
    assert len(bad.read_bytes()) == len(frame(data[1]))


def test_f14_torn_tail_plus_flipped_byte(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    data = recs(6)
    sp.append(data)
    sp.close()
    seg = segs(tmp_path)[0]
    raw = bytearray(seg.read_bytes())
    raw[len(frame(data[0])) * 2 + HEADER.size + 2] ^= 0xFF  # payload of record 2
    seg.write_bytes(bytes(raw[:-10]))  # and cut record 5 mid-payload
    sink = Sink()
    assert sp.drain(sink, batch=2) == 4
    assert sink.got == [data[0], data[1], data[3], data[4]]
    assert (sp.torn, sp.quarantined) == (1, 1)
    assert sp.drain(sink) == 0  # no crash loop, nothing left


def test_quarantine_then_apply_failure_is_not_double_counted(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    data = recs(6)
    sp.append(data)
    sp.close()
    seg = segs(tmp_path)[0]
    raw = bytearray(seg.read_bytes())
    raw[len(frame(data[0])) + HEADER.size + 1] ^= 1
    seg.write_bytes(bytes(raw))
    sink = Sink(fail_on={2})
    with pytest.raises(ConnectionError):
        sp.drain(sink, batch=10)
    assert sink.got == data[:1] and sp.quarantined == 1
    assert sp.drain(sink) == 4 and sink.got == [data[0], *data[2:]] and sp.quarantined == 1


def test_spool_full_when_max_bytes_tiny(tmp_path: Path) -> None:
    one = recs(1)[0]
    sp = Spool(tmp_path, owner="w1", max_bytes=2 * len(frame(one)) + 1)
    sp.append([one])
    sp.append([one])
    with pytest.raises(SpoolFull):
        sp.append([one])
    with pytest.raises(SpoolFull):
        sp.append([b"x" * 3000])
    assert sp.refused == 2 and sp.depth().free_bytes == 1
    assert sp.drain(Sink()) == 2
    sp.append([one])  # draining freed the space
    # Another owner's bytes in the same directory count too.
    other = Spool(tmp_path, owner="w2", max_bytes=2 * len(frame(one)) + 1)
    other.append([one])
    with pytest.raises(SpoolFull):
        other.append([one])


def test_unwritable_directory_raises_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    sp = Spool(blocker / "spool", owner="w1")
    with pytest.raises(SpoolUnavailable):
        sp.append([b"x"])
    with pytest.raises(SpoolUnavailable):
        sp.drain(Sink())
    with pytest.raises(SpoolUnavailable):
        sp.depth()
    with pytest.raises(SpoolUnavailable):
        sp.dead_letter(b"x", "r")


@pytest.mark.parametrize("owner", ["", ".hidden", "a/b", "x" * 201])
def test_bad_owner_rejected(tmp_path: Path, owner: str) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path, owner=owner)


def test_dotted_owner_and_pending_segments(tmp_path: Path) -> None:
    """wiring.py names writers "<hostname>-<pid>-<hex>", and hostnames may be FQDNs."""
    sp = Spool(tmp_path, owner="web1.example.com-42-beef")
    other = Spool(tmp_path, owner="web1.example.com-43-cafe")

    def pending(owner: str) -> int:  # bytes in the owner's segments not drained and deleted
        return sum(p.stat().st_size for p in tmp_path.glob(f"{owner}.*.seg"))

    assert pending(sp.owner) == 0
    sp.append([b"a", b"b"])
    other.append([b"z"])
    assert pending(sp.owner) == 2 * len(frame(b"a"))
    with pytest.raises(ConnectionError):
        sp.drain(Sink(fail_on={1}))
    assert pending(sp.owner) > 0  # not applied: the caller stays degraded
    sink = Sink()
    assert sp.drain(sink) == 2 and sink.got == [b"a", b"b"]  # other's open segment skipped
    assert pending(sp.owner) == 0 and pending(other.owner) > 0


def test_empty_segment_and_stale_files_cleaned(tmp_path: Path) -> None:
    (tmp_path / "ghost.1.seg").write_bytes(b"")
    (tmp_path / "gone.2.seg.off").write_bytes(b"\0" * 12)
    tmp = tmp_path / ".ghost.3.seg.tmp"
    tmp.write_bytes(b"")
    os.utime(tmp, (1, 1))
    sp = Spool(tmp_path, owner="w1")
    assert sp.drain(Sink()) == 0
    assert sorted(os.listdir(tmp_path)) == ["drain.lock"]


def test_live_segment_skipped_until_owner_closes(tmp_path: Path) -> None:
    live = Spool(tmp_path, owner="a")
    live.append([b"a0"])
    drainer = Spool(tmp_path, owner="b")
    drainer.append([b"b0"])
    sink = Sink()
    assert drainer.drain(sink) == 1 and sink.got == [b"b0"]  # a's open segment is locked
    live.append([b"a1"])
    live.close()
    assert drainer.drain(sink) == 2 and sink.got[1:] == [b"a0", b"a1"]


def test_orphan_of_dead_process_is_drained(tmp_path: Path) -> None:
    proc = run_py("""
        import os, sys
        from collector.durable.spool import Spool
        sp = Spool(sys.argv[1], owner="dead")
        sp.append([b"o1", b"o2"])
        sp.append([b"o3"])
        os._exit(0)  # no close(): the flock dies with the process
    """, str(tmp_path))
    assert proc.wait(30) == 0
    sink = Sink()
    assert Spool(tmp_path, owner="alive").drain(sink) == 3
    assert sink.got == [b"o1", b"o2", b"o3"]


def test_kill_9_mid_append_loses_no_acknowledged_record(tmp_path: Path) -> None:
    proc = run_py("""
        import sys
        from collector.durable.spool import Spool
        sp = Spool(sys.argv[1], owner="victim")
        i = 0
        while True:
            sp.append([b"%d" % i + b"x" * 3000])
            print(i, flush=True)
            i += 1
    """, str(tmp_path))
    assert proc.stdout is not None
    acked = [int(proc.stdout.readline()) for _ in range(200)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    sink = Sink()
    Spool(tmp_path, owner="rescuer").drain(sink)
    got = [int(r.split(b"x", 1)[0]) for r in sink.got]
    assert got == list(range(len(got))) and len(got) >= len(acked)


def test_two_processes_one_drainer_keeps_per_owner_order(tmp_path: Path) -> None:
    code = """
        import sys
        from collector.durable.spool import Spool
        sp = Spool(sys.argv[1], owner=sys.argv[2], segment_bytes=2000)
        for i in range(300):
            sp.append([("%s:%d" % (sys.argv[2], i)).encode()])
        sp.close()
    """
    writers = [run_py(code, str(tmp_path), name) for name in ("p1", "p2")]
    drainer = Spool(tmp_path, owner="d")
    sink = Sink()
    while any(w.poll() is None for w in writers):  # drain sealed segments while they write
        drainer.drain(sink, batch=7)
    assert [w.wait(30) for w in writers] == [0, 0]
    drainer.drain(sink, batch=7)
    for name in ("p1", "p2"):
        mine = [r.decode() for r in sink.got if r.startswith(name.encode())]
        assert mine == [f"{name}:{i}" for i in range(300)]
    assert len(sink.got) == 600 and segs(tmp_path) == []


def test_concurrent_thread_appends_drained_exactly_once(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1", segment_bytes=4096)
    sink = Sink()
    done = threading.Event()

    def writer(t: int) -> None:
        for i in range(100):
            sp.append([f"{t}:{i}".encode()])

    def drainer() -> None:
        while not done.is_set():
            sp.drain(sink, batch=13)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    dt = threading.Thread(target=drainer)
    dt.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    dt.join()
    sp.drain(sink)
    counts = Counter(sink.got)
    assert len(counts) == 800 and set(counts.values()) == {1}
    for t in range(8):  # each thread's own order survives
        mine = [r for r in sink.got if r.startswith(f"{t}:".encode())]
        assert mine == [f"{t}:{i}".encode() for i in range(100)]
    assert sp.stats()["appended"] == sp.stats()["drained"] == 800


def test_dead_letter_from_apply_counts_as_acknowledged(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    sp.append([b'{"ok":1}', b'{"poison":1}', b"\xff\xfe"])
    kept: list[bytes] = []

    def apply(batch: list[bytes]) -> None:
        for r in batch:
            if r == b'{"ok":1}':
                kept.append(r)
            else:
                sp.dead_letter(r, "WRONGTYPE")

    assert sp.drain(apply) == 3 and kept == [b'{"ok":1}']
    lines = [json.loads(x) for x in (tmp_path / "dead-letter.ndjson").read_text().splitlines()]
    assert [x["reason"] for x in lines] == ["WRONGTYPE", "WRONGTYPE"]
    assert lines[0]["record"] == '{"poison":1}' and lines[1]["record_b64"] == "//4="
    assert sp.dead_lettered == 2 and sp.drain(apply) == 0


def test_second_concurrent_drainer_returns_zero(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    sp.append([b"a", b"b"])
    other = Spool(tmp_path, owner="w2")
    other.append([b"c"])
    other.close()
    seen: list[int] = []

    def apply(batch: list[bytes]) -> None:
        seen.append(other.drain(Sink()))
        seen.append(sp.drain(Sink()))  # same instance, other thread of thought: still excluded

    assert sp.drain(apply) == 3
    assert seen == [0, 0, 0, 0]


def test_depth_reports_age_and_pending(tmp_path: Path) -> None:
    sp = Spool(tmp_path, owner="w1")
    assert sp.depth().segments == 0
    sp.append(recs(3))
    st = sp.depth()
    assert st.segments == 1 and st.bytes == 3 * len(frame(recs(1)[0]))
    assert st.oldest_age_seconds is not None and 0 <= st.oldest_age_seconds < 60
    assert st.free_bytes == sp.max_bytes - st.bytes
