"""Record every OpenAI call of a batch job, attributed to the job.

    export AIUSAGE_API_URL=https://xxxx.execute-api.eu-west-1.amazonaws.com
    export AIUSAGE_API_KEY=aiu_...            # a key with the usage:write scope
    export OPENAI_API_KEY=sk-...
    python examples/sdk/openai_wrap.py
"""

from openai import OpenAI

from aiusage.sdk import UsageTracker

tracker = UsageTracker()  # settings from AIUSAGE_* / TRACK_* / USER_ID
client = tracker.wrap(OpenAI())  # the same client, now recording usage


@tracker.context(project="support-bot")
def summarize_tickets(tickets: list[str]) -> list[str]:
    summaries = []
    for number, ticket in enumerate(tickets):
        # Each call is one event: the response's own usage object, model, latency,
        # plus job/batch/tags from the context.
        with tracker.context(batch_id=f"ticket-{number}", tags={"step": "summarize"}):
            completion = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Summarize in one line: {ticket}"}],
            )
        summaries.append(completion.choices[0].message.content)

    # Streaming works too: the SDK asks for the final usage chunk and records it.
    with tracker.context(batch_id="digest"):
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Write a digest of: " + " / ".join(summaries)}],
            stream=True,
        )
        for chunk in stream:
            print(chunk.choices[0].delta.content or "", end="", flush=True)
    print()
    return summaries


if __name__ == "__main__":
    with tracker.context(job_id="nightly-ticket-summary"):
        summarize_tickets(["Printer on fire", "Cannot log in after password reset"])
    tracker.close()  # optional: an atexit hook flushes too, and spools what it cannot send
