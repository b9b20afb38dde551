"""Drives the official `anthropic` SDK against a base URL; prints one JSON line of results.

Used by tests/proxy_sdk.rs: the SDK talks to the real proxy, which talks to the fake upstream.
"""
import json
import sys

import anthropic


def main() -> None:
    base_url = sys.argv[1]
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-sdk-test", max_retries=0, timeout=20)
    msg = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Say hi"}],
    )
    streamed = []
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Stream hi"}],
    ) as stream:
        for text in stream.text_stream:
            streamed.append(text)
        final = stream.get_final_message()
    count = client.messages.count_tokens(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "Count me"}],
    )
    err = None
    try:
        client.messages.create(model="fail", max_tokens=1, messages=[{"role": "user", "content": "x"}],
                               extra_headers={"x-fake-status": "529"})
    except anthropic.APIStatusError as e:  # upstream errors surface as SDK errors
        err = {"status": e.status_code, "type": type(e).__name__}
    print(json.dumps({
        "text": msg.content[0].text,
        "usage_in": msg.usage.input_tokens,
        "streamed": "".join(streamed),
        "stream_stop": final.stop_reason,
        "stream_out": final.usage.output_tokens,
        "count": count.input_tokens,
        "error": err,
    }))


if __name__ == "__main__":
    main()
