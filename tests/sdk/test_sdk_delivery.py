"""Delivery to POST /ai_usage: batching, retries, rejection, spool, exit."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from aiusage.sdk import delivery
from aiusage.sdk.spool import Spool
from tests.sdk.fake_ingest import API_KEY, validation_error

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout=5.0):
    """Poll a condition that no server callback can signal (e.g. tracker stats)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def record_n(tracker, n, **extra):
    return [
        tracker.record(service="openai", model="gpt-4o", input_tokens=i, output_tokens=1, **extra) for i in range(n)
    ]


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ids(events):
    return [e["event_id"] for e in events]


def test_events_are_posted_in_batches_with_bearer_auth(ingest, make_tracker):
    tracker = make_tracker(batch_size=100)

    recorded = record_n(tracker, 250)

    assert tracker.flush(5)
    assert [len(body["events"]) for body in ingest.bodies] == [100, 100, 50]
    assert ids(ingest.events) == recorded  # in order, each once
    first = ingest.requests[0]
    assert first.path == "/ai_usage"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert first.headers["content-type"] == "application/json"
    assert ingest.events[3] == {
        "service": "openai", "model": "gpt-4o", "input_tokens": 3, "output_tokens": 1,
        "event_id": recorded[3], "timestamp": ingest.events[3]["timestamp"],
    }
    assert tracker.stats["sent"] == 250 and tracker.stats["attempts"] == 3


def test_api_url_path_prefix_and_trailing_slash(ingest, make_tracker):
    tracker = make_tracker(api_url=f"{ingest.url}/prod/")
    record_n(tracker, 1)
    assert tracker.flush(5)
    assert [r.path for r in ingest.requests] == ["/prod/ai_usage"]


def test_flush_interval_sends_without_an_explicit_flush(ingest, make_tracker):
    tracker = make_tracker(flush_interval=0.05)
    [event_id] = record_n(tracker, 1)
    assert ingest.wait_for(lambda s: len(s.requests) == 1)
    assert ids(ingest.events) == [event_id]


def test_duplicates_reported_by_the_server_are_counted(ingest, make_tracker):
    tracker = make_tracker()
    tracker.record(event_id="fixed:1", service="openai", model="gpt-4o", input_tokens=1, output_tokens=1)
    tracker.flush(5)
    tracker.record(event_id="fixed:1", service="openai", model="gpt-4o", input_tokens=1, output_tokens=1)
    assert tracker.flush(5)
    assert tracker.stats["sent"] == 2 and tracker.stats["duplicates"] == 1


def test_conflicts_are_logged(ingest, make_tracker, caplog):
    tracker = make_tracker()
    [event_id] = record_n(tracker, 1)
    ingest.answer_next(
        200,
        {
            "accepted": 0,
            "duplicates": 0,
            "results": [{"event_id": event_id, "status": "conflict", "cost_usd": 0, "cost_source": "computed"}],
        },
    )
    with caplog.at_level(logging.WARNING, logger="aiusage.sdk"):
        assert tracker.flush(5)
    assert tracker.stats["conflicts"] == 1
    assert event_id in caplog.text and "conflict" in caplog.text


@pytest.mark.parametrize(("status", "headers"), [(500, {}), (503, {}), (429, {"Retry-After": "0"}), (408, {})])
def test_retryable_status_is_retried_with_the_same_body(ingest, make_tracker, spool_path, status, headers):
    tracker = make_tracker()
    ingest.answer_next(status, {"error": {"code": "internal_error", "message": "boom", "details": []}}, headers)

    recorded = record_n(tracker, 2)

    assert tracker.flush(5)
    assert [r.answered for r in ingest.requests] == [status, 200]
    assert ingest.bodies[0] == ingest.bodies[1]  # same event ids: the retry is idempotent
    assert ids(ingest.accepted_events) == recorded
    assert (tracker.stats["attempts"], tracker.stats["failed_attempts"], tracker.stats["sent"]) == (2, 1, 2)
    assert not spool_path.exists()


def test_a_timed_out_request_is_retried_and_deduplicated_by_event_id(ingest, make_tracker):
    ingest.release.clear()  # the first request hangs past the client's timeout
    tracker = make_tracker(timeout=0.2, max_retries=20, batch_size=2)  # 2 events make a due batch

    recorded = record_n(tracker, 2)
    assert wait_until(lambda: tracker.stats.get("failed_attempts", 0) >= 1)
    ingest.release.set()

    assert tracker.flush(5)
    bodies = ingest.bodies
    assert len(bodies) >= 2 and all(b == bodies[0] for b in bodies)  # same ids on every attempt
    assert ids(bodies[0]["events"]) == recorded
    # The server had stored the first attempt, so the retry comes back as duplicates.
    assert tracker.stats["duplicates"] == 2 and tracker.stats["sent"] == 2


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after(tracker):
    sender = tracker._delivery
    sender._backoff_base, sender._backoff_max = 1.0, 5.0
    for attempt, (low, high) in enumerate([(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]):
        delays = {sender._backoff(attempt, None) for _ in range(50)}
        assert all(low <= d <= high for d in delays) and len(delays) > 1
    assert sender._backoff(0, 3.0) == 3.0
    assert sender._backoff(0, 60.0) == 5.0  # Retry-After is capped by backoff_max


def test_connection_refused_then_up_delivers_after_retries(idle_ingest, make_tracker, spool_path):
    tracker = make_tracker(api_url=idle_ingest.url, max_retries=100, backoff_base=0.02, backoff_max=0.05,
                           batch_size=3)  # 3 events make a due batch
    recorded = record_n(tracker, 3)

    assert wait_until(lambda: tracker.stats.get("failed_attempts", 0) >= 2)
    idle_ingest.start()

    assert tracker.flush(10)
    assert ids(idle_ingest.events) == recorded
    assert not spool_path.exists()


def test_persistent_failure_spools_after_the_retries(idle_ingest, make_tracker, spool_path):
    tracker = make_tracker(api_url=idle_ingest.url, max_retries=2)

    recorded = record_n(tracker, 3)

    assert tracker.flush(5)
    assert ids(lines(spool_path)) == recorded
    assert lines(spool_path)[0] == {"service": "openai", "model": "gpt-4o", "input_tokens": 0, "output_tokens": 1,
                                    "event_id": recorded[0], "timestamp": lines(spool_path)[0]["timestamp"]}
    assert (tracker.stats["attempts"], tracker.stats["spooled"]) == (3, 3)


def test_spool_is_resent_on_next_start_and_removed_only_after_ack(idle_ingest, make_tracker, spool_path):
    down = make_tracker(api_url=idle_ingest.url, max_retries=0)
    recorded = record_n(down, 5)
    assert down.flush(5)
    down.close()
    assert ids(lines(spool_path)) == recorded

    idle_ingest.start()
    idle_ingest.answer_next(500)  # the first resend attempt fails, the retry succeeds
    up = make_tracker(api_url=idle_ingest.url)

    assert up.flush(5)
    assert ids(idle_ingest.accepted_events) == recorded
    assert up.stats["resent_from_spool"] == 5
    assert lines(spool_path) == []
    assert [p.name for p in spool_path.parent.iterdir() if ".sending." in p.name] == []


def test_spool_is_kept_when_the_resend_fails(idle_ingest, make_tracker, spool_path):
    Spool(spool_path).append([{"event_id": f"old:{i}", "service": "openai", "model": "m"} for i in range(3)])

    tracker = make_tracker(api_url=idle_ingest.url, max_retries=1)
    assert tracker.flush(5)

    assert ids(lines(spool_path)) == ["old:0", "old:1", "old:2"]
    assert [p.name for p in spool_path.parent.iterdir() if ".sending." in p.name] == []


def test_orphaned_claims_are_adopted_and_live_ones_left_alone(ingest, make_tracker, spool_path):
    import fcntl

    spool_path.parent.mkdir(parents=True)
    orphan = spool_path.with_name(spool_path.name + ".sending.999999.dead")
    orphan.write_text(json.dumps({"event_id": "orphan:1", "service": "openai", "model": "m"}) + "\n")
    live = spool_path.with_name(spool_path.name + ".sending.1.live")
    live.write_text(json.dumps({"event_id": "live:1", "service": "openai", "model": "m"}) + "\n")
    with open(live) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running tracker in another process would

        tracker = make_tracker()
        assert tracker.flush(5)

    assert ids(ingest.events) == ["orphan:1"]
    assert not orphan.exists() and live.exists()


def test_invalid_event_is_isolated_rejected_and_the_rest_sent(ingest, make_tracker, spool_path, caplog):
    tracker = make_tracker()
    ingest.answer_next(400, validation_error(["events", 1, "input_tokens"]))

    recorded = record_n(tracker, 3)
    with caplog.at_level(logging.WARNING, logger="aiusage.sdk"):
        assert tracker.flush(5)

    assert [len(b["events"]) for b in ingest.bodies] == [3, 2]
    assert ids(ingest.accepted_events) == [recorded[0], recorded[2]]
    rejected_file = spool_path.with_name("spool.rejected.jsonl")
    [rejected] = lines(rejected_file)
    assert rejected["event"]["event_id"] == recorded[1]
    assert rejected["status"] == 400 and rejected["error"]["details"][0]["loc"] == ["events", 1, "input_tokens"]
    assert "rejected 1 event" in caplog.text
    assert not spool_path.exists()  # rejected events are never retried
    assert (tracker.stats["rejected"], tracker.stats["sent"]) == (1, 2)


def test_invalid_batch_without_details_is_bisected(ingest, make_tracker, spool_path):
    tracker = make_tracker()
    for status in (400, 200, 400, 200, 400):  # [0..3] ✗ → [0,1] ✓, [2,3] ✗ → [2] ✓, [3] ✗
        ingest.answer_next(status, {"error": {"code": "validation_error", "message": "bad", "details": []}}
                           if status == 400 else None)

    recorded = record_n(tracker, 4)

    assert tracker.flush(5)
    assert [len(b["events"]) for b in ingest.bodies] == [4, 2, 2, 1, 1]
    assert ids(ingest.accepted_events) == recorded[:3]
    assert [r["event"]["event_id"] for r in lines(spool_path.with_name("spool.rejected.jsonl"))] == [recorded[3]]


def test_unauthorized_is_spooled_not_rejected_and_not_retried(ingest, make_tracker, spool_path):
    tracker = make_tracker()
    ingest.answer_next(401, {"error": {"code": "unauthorized", "message": "bad key", "details": []}})

    recorded = record_n(tracker, 2)

    assert tracker.flush(5)
    assert len(ingest.requests) == 1
    assert ids(lines(spool_path)) == recorded  # kept for a later run with a valid key
    assert not spool_path.with_name("spool.rejected.jsonl").exists()


def test_oversized_bodies_are_split(ingest, make_tracker, monkeypatch):
    monkeypatch.setattr(delivery, "MAX_BODY_BYTES", 1500)
    tracker = make_tracker()

    recorded = record_n(tracker, 12, metadata={"note": "x" * 200})

    assert tracker.flush(5)
    assert ids(ingest.events) == recorded
    assert len(ingest.requests) > 1
    assert all(len(json.dumps(b)) <= 1500 for b in ingest.bodies)


def test_full_queue_spills_to_the_spool_without_waiting(ingest, make_tracker, spool_path):
    ingest.release.clear()  # the server holds every request until released
    tracker = make_tracker(batch_size=1, flush_interval=0, max_queue=2)
    first = record_n(tracker, 1)
    assert ingest.wait_for(lambda s: len(s.requests) == 1)  # the sender is now stuck in that request

    rest = record_n(tracker, 5)

    assert ids(lines(spool_path)) == rest[2:]  # written before record() returned
    ingest.release.set()
    assert tracker.flush(5)
    assert ids(ingest.events) == first + rest[:2]


def test_close_spools_what_could_not_be_sent_in_time(ingest, make_tracker, spool_path):
    ingest.release.clear()
    tracker = make_tracker(timeout=30)
    recorded = record_n(tracker, 3)

    tracker.close(timeout=0.1)

    assert ids(lines(spool_path)) == recorded
    late = tracker.record(service="openai", model="gpt-4o", input_tokens=1, output_tokens=1)
    assert ids(lines(spool_path)) == recorded + [late]  # after close, events go straight to the spool


def test_a_forked_child_sends_its_own_events_with_a_new_sender(ingest, make_tracker):
    tracker = make_tracker()
    tracker.record(service="openai", model="parent", input_tokens=1, output_tokens=1)  # queued, not sent yet

    pid = os.fork()
    if pid == 0:  # the child: no sender thread was inherited, a new one must start
        code = 1
        try:
            tracker.record(service="openai", model="child", input_tokens=1, output_tokens=1)
            code = 0 if tracker.flush(5) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert [e["model"] for e in ingest.events] == ["child"]  # the parent's queued event stays the parent's
    assert tracker.flush(5)
    assert [e["model"] for e in ingest.events] == ["child", "parent"]


def _run_python(code, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIUSAGE_", "TRACK_"))}
    env.update(env_extra, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


EXITING_PROCESS = """
from aiusage.sdk import UsageTracker
tracker = UsageTracker(max_retries=1, backoff_base=0.01, backoff_max=0.02, exit_timeout=2, flush_interval=60)
for i in range(150):
    print(tracker.record(service="openai", model="gpt-4o", input_tokens=i, output_tokens=1))
# no flush, no close: the atexit hook must take care of it
"""


def test_nothing_is_lost_when_a_process_exits_with_the_api_down(idle_ingest, make_tracker, spool_path):
    printed = _run_python(EXITING_PROCESS, {"AIUSAGE_API_URL": idle_ingest.url, "AIUSAGE_API_KEY": API_KEY,
                                            "AIUSAGE_SPOOL": str(spool_path)})
    assert len(set(printed)) == 150
    assert sorted(ids(lines(spool_path))) == sorted(printed)

    idle_ingest.start()
    tracker = make_tracker(api_url=idle_ingest.url)
    assert tracker.flush(5)

    assert Counter(ids(idle_ingest.events)) == Counter(printed)  # every id exactly once
    assert lines(spool_path) == []


def test_a_process_exiting_with_the_api_up_sends_at_exit(ingest, spool_path):
    printed = _run_python(EXITING_PROCESS, {"AIUSAGE_API_URL": ingest.url, "AIUSAGE_API_KEY": API_KEY,
                                            "AIUSAGE_SPOOL": str(spool_path)})
    assert Counter(ids(ingest.events)) == Counter(printed) and len(printed) == 150
    assert not spool_path.exists()


CONCURRENT_WRITER = """
import sys
from pathlib import Path
from aiusage.sdk.spool import Spool
spool = Spool(Path(sys.argv[1]))
for i in range(100):
    spool.append([{"event_id": f"{sys.argv[2]}:{i}", "metadata": {"pad": "x" * 8000}}])
"""


def test_two_processes_appending_to_one_spool_do_not_corrupt_it(spool_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(spool_path), name], env=env)
               for name in ("a", "b")]
    assert [w.wait(30) for w in writers] == [0, 0]

    written = lines(spool_path)  # every line parses: no interleaved writes
    assert sorted(ids(written)) == sorted(f"{n}:{i}" for n in "ab" for i in range(100))
