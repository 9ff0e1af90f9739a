"""Attribution context: nesting, decorator form, threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import threading

import openai
import pytest

from aiusage.sdk import UsageContext, current_context


def by_job(events):
    grouped = {}
    for event in events:
        grouped.setdefault(event.get("job_id"), []).append(event)
    return grouped


def test_nested_contexts_override_values_and_merge_tags(tracker):
    with tracker.context(job_id="outer", project="p", tags={"team": "ml", "env": "prod"}):
        with tracker.context(job_id="inner", github={"repository": "acme/api"}, tags={"env": "dev"}):
            assert current_context() == {"job_id": "inner", "project": "p", "github": {"repository": "acme/api"},
                                         "tags": {"team": "ml", "env": "dev"}}
        assert current_context() == {"job_id": "outer", "project": "p", "tags": {"team": "ml", "env": "prod"}}
    assert current_context() == {}


def test_unknown_context_fields_are_refused(tracker):
    with pytest.raises(TypeError, match="jobid"):
        tracker.context(jobid="x")


async def test_context_as_decorator_on_sync_and_async_functions(ingest, tracker):
    @tracker.context(batch_id="b-9", tags={"stage": "embed"})
    def step():
        return tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1)

    @tracker.context(batch_id="b-10")
    async def async_step():
        await asyncio.sleep(0)
        return tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1)

    step()
    await async_step()
    tracker.record(service="openai", model="m", input_tokens=1, output_tokens=1)

    assert tracker.flush(5)
    assert [(e.get("batch_id"), e.get("tags")) for e in ingest.events] == [
        ("b-9", {"stage": "embed"}), ("b-10", None), (None, None)]


def test_threads_with_different_contexts_do_not_see_each_other(ingest, make_tracker):
    tracker = make_tracker()
    barrier = threading.Barrier(2)

    def worker(job):
        with tracker.context(job_id=job, user_id=f"user-{job}"):
            for i in range(50):
                if i % 10 == 0:
                    barrier.wait(5)  # interleave the two threads' records
                tracker.record(service="openai", model="m", input_tokens=i, output_tokens=1)

    threads = [threading.Thread(target=worker, args=(job,)) for job in ("a", "b")]
    with tracker.context(job_id="main", tags={"leak": "yes"}):  # must not reach the threads
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    assert tracker.flush(5)
    grouped = by_job(ingest.events)
    assert sorted(grouped) == ["a", "b"]
    for job, events in grouped.items():
        assert len(events) == 50
        assert {e["user_id"] for e in events} == {f"user-{job}"}
        assert all("tags" not in e for e in events)


async def test_asyncio_tasks_each_see_the_context_they_were_created_in(ingest, tracker):
    async def job(name):
        with tracker.context(job_id=name):
            for i in range(20):
                await asyncio.sleep(0)  # switch tasks between records
                tracker.record(service="openai", model="m", input_tokens=i, output_tokens=1)

    async def inherits():
        await asyncio.sleep(0)
        tracker.record(service="openai", model="m", input_tokens=0, output_tokens=1)

    with tracker.context(project="proj"):
        inherited = asyncio.create_task(inherits())  # copies the context at creation
    await asyncio.gather(job("x"), job("y"), inherited)

    assert tracker.flush(5)
    grouped = by_job(ingest.events)
    assert {k: len(v) for k, v in grouped.items()} == {"x": 20, "y": 20, None: 1}
    assert grouped[None][0]["project"] == "proj"
    assert all("project" not in e for e in grouped["x"] + grouped["y"])


def test_a_stream_keeps_the_context_of_the_call_that_opened_it(providers, ingest, tracker):
    client = tracker.wrap(openai.OpenAI(api_key="sk-test", base_url=f"{providers.url}/v1", max_retries=0))
    with tracker.context(job_id="opened-here"):
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    list(stream)  # consumed outside the block

    assert tracker.flush(5)
    assert [e["job_id"] for e in ingest.events] == ["opened-here"]


def test_one_context_object_entered_in_two_threads_at_once(tracker):
    shared = UsageContext(job_id="shared")
    inside = threading.Barrier(2)
    seen = []

    def enter():
        with tracker.context(project="own"):
            with shared:
                inside.wait(5)  # both threads are inside the same object now
                seen.append(current_context())
            seen.append(current_context())

    threads = [threading.Thread(target=enter) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(map(len, seen)) == [1, 1, 2, 2]
    assert {"job_id": "shared", "project": "own"} in seen and {"project": "own"} in seen
