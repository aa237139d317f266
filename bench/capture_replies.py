"""Capture what a real model writes for our prompts, as test fixtures for the reply parsers.

    python bench/capture_replies.py http://127.0.0.1:8012/v1 [--world DIR] [--out tests/fixtures/real_replies.json]

Against a llama.cpp `llama-server` (../shared/tools/local-llm/serve.sh). For each kind of request the
pipeline makes, the reply as the model wrote it, unparsed: the agent's turns come from `/completion`
on the prompt the server's own chat template renders (`/apply-template`, with the tools), so no
tool parser has touched them; the JSON stages are asked through `/v1/chat/completions` without
`response_format`, as an endpoint without structured output answers them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from worldbuild.agent import judge  # noqa: E402
from worldbuild.agent.tools import SCHEMAS  # noqa: E402
from worldbuild.prompts import load  # noqa: E402
from worldbuild.synth import extract, rubric  # noqa: E402

QUESTIONS = ["In which year was the Gutenberg Bible printed?", "Who founded the Internet Archive?"]
SEARCH_RESULT = ("Search results for 'Internet Archive founder':\n1. Title: Internet Archive - Wikipedia\n"
                 "URL: https://en.wikipedia.org/wiki/Internet_Archive\nThe Internet Archive is an American digital "
                 "library founded on May 10, 1996, by Brewster Kahle.")


def chat(client: httpx.Client, base: str, content: str, max_tokens: int) -> str:
    reply = client.post(f"{base}/chat/completions", json={"model": "local", "temperature": 0, "max_tokens": max_tokens,
                                                           "messages": [{"role": "user", "content": content}]})
    reply.raise_for_status()
    return reply.json()["choices"][0]["message"]["content"]


def raw_turn(client: httpx.Client, root: str, messages: list[dict], temperature: float) -> str:
    prompt = client.post(f"{root}/apply-template", json={"messages": messages, "tools": list(SCHEMAS.values())})
    prompt.raise_for_status()
    reply = client.post(f"{root}/completion", json={"prompt": prompt.json()["prompt"], "n_predict": 200,
                                                     "temperature": temperature, "seed": 7})
    reply.raise_for_status()
    return reply.json()["content"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "real_replies.json"))
    parser.add_argument("--agent-prompt", default="agent_system.v1", help="the agent's system prompt version")
    parser.add_argument("--only-agent", action="store_true", help="capture the agent's turns only")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    root = base.removesuffix("/v1")
    client = httpx.Client(timeout=900)
    props = client.get(f"{root}/props").json()
    system = load(args.agent_prompt)
    replies = []
    for question in QUESTIONS:
        for temperature in (0.0, 0.7):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
            replies.append({"kind": "agent_first_turn", "prompt": args.agent_prompt, "question": question,
                            "temperature": temperature,
                            "content": raw_turn(client, root, messages, temperature)})
    after_search = [{"role": "system", "content": system}, {"role": "user", "content": QUESTIONS[1]},
                    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                        "name": "search", "arguments": json.dumps({"query": "Internet Archive founder"})}}]},
                    {"role": "tool", "content": SEARCH_RESULT}]
    replies.append({"kind": "agent_after_search", "prompt": args.agent_prompt, "question": QUESTIONS[1],
                    "temperature": 0.0, "content": raw_turn(client, root, after_search, 0.0)})
    if args.only_agent:
        return save(args, props, replies)
    page = ("The Internet Archive is an American non-profit digital library founded on May 10, 1996, by Brewster "
            "Kahle in San Francisco. It hosts the Wayback Machine, launched in 2001, which holds over 800 billion "
            "web pages. Its headquarters is the former Fourth Church of Christ, Scientist building on Funston Avenue.")
    prompt = (load(extract.PROMPT).replace("{max_pairs}", "3").replace("{max_answer_words}", "10")
              .replace("{title}", "Internet Archive").replace("{url}", "https://example.org/ia").replace("{text}", page))
    replies.append({"kind": "extract_qa", "prompt": extract.PROMPT, "content": chat(client, base, prompt, 512)})
    prompt = (load(rubric.PROMPT).replace("{question}", "In which year was the Wayback Machine launched?")
              .replace("{answer}", "2001"))
    replies.append({"kind": "rubric", "prompt": rubric.PROMPT, "content": chat(client, base, prompt, 768)})
    prompt = load(judge.PROMPT_VERSION).format(
        question="Who founded the Internet Archive?", reference="Brewster Kahle", prediction="Kahle")
    replies.append({"kind": "judge", "prompt": judge.PROMPT_VERSION, "content": chat(client, base, prompt, 64)})
    save(args, props, replies)


def save(args, props: dict, replies: list[dict]) -> None:
    save_results(args.out, {
        "how": "bench/capture_replies.py against llama.cpp llama-server (--jinja), greedy unless noted; agent turns "
               "from /completion on /apply-template's prompt (no tool parser), JSON stages from /v1/chat/completions "
               "without response_format",
        "model_file": os.path.basename(props.get("model_path", "")), "replies": replies})
    for reply in replies:
        print(json.dumps(reply, ensure_ascii=False)[:400])


if __name__ == "__main__":
    main()
