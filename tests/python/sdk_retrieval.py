"""Drives the official `anthropic` and `openai` SDKs through the proxy to a fake upstream whose
scripted model calls headroom_retrieve; prints one JSON line of what each SDK parsed.

Used by tests/served_retrieval.rs. argv: base URL, a JSON file holding the two request bodies
({"anthropic": {...}, "openai": {...}}).
"""
import json
import sys

import anthropic
import openai


def main() -> None:
    base_url, bodies_path = sys.argv[1], sys.argv[2]
    with open(bodies_path) as f:
        bodies = json.load(f)
    a = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-sdk-test", max_retries=0, timeout=30)
    body = bodies["anthropic"]
    kwargs = {k: body[k] for k in ("model", "max_tokens", "messages", "tools", "system") if k in body}
    msg = a.messages.create(**kwargs)
    with a.messages.stream(**kwargs) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    o = openai.OpenAI(base_url=base_url + "/v1", api_key="sk-openai-sdk-test", max_retries=0, timeout=30)
    ob = bodies["openai"]
    chat = o.chat.completions.create(model=ob["model"], messages=ob["messages"], tools=ob["tools"])
    chunks = o.chat.completions.create(model=ob["model"], messages=ob["messages"], tools=ob["tools"],
                                       stream=True, stream_options={"include_usage": True})
    otext, ofinish, ousage, ocalls = [], None, None, 0
    for c in chunks:
        if c.usage is not None:
            ousage = c.usage.prompt_tokens
        for ch in c.choices:
            if ch.delta.content:
                otext.append(ch.delta.content)
            if ch.delta.tool_calls:
                ocalls += len(ch.delta.tool_calls)
            if ch.finish_reason:
                ofinish = ch.finish_reason
    print(json.dumps({
        "anthropic_text": "".join(b.text for b in msg.content if b.type == "text"),
        "anthropic_types": [b.type for b in msg.content],
        "anthropic_stop": msg.stop_reason,
        "stream_text": streamed,
        "stream_types": [b.type for b in final.content],
        "stream_stop": final.stop_reason,
        "openai_text": chat.choices[0].message.content,
        "openai_calls": len(chat.choices[0].message.tool_calls or []),
        "openai_finish": chat.choices[0].finish_reason,
        "openai_stream_text": "".join(otext),
        "openai_stream_finish": ofinish,
        "openai_stream_calls": ocalls,
        "openai_stream_usage": ousage,
    }))


if __name__ == "__main__":
    main()
