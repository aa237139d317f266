"""Multi-hop tasks by backward graph synthesis (DESIGN.md §1).

From a seed entity, search the world, and let the LLM read the top page for K_FEAT features
and up to K_ENT new entities with relations; repeat breadth first until N_MAX nodes. Sample a
connected SUBGRAPH-node subgraph (greedy by edges into the chosen set, plus Uniform(0, 0.5)
noise), and let the LLM compose one question of 3-5 hops whose answer is one of its entities.
Every feature and edge records the page that supports it.
"""

from __future__ import annotations

import random

from worldbuild.llm import LLM
from worldbuild.prompts import load

N_MAX, K_FEAT, K_ENT, SUBGRAPH, MIN_HOPS, MAX_HOPS = 8, 2, 2, 6, 3, 5
EXPAND, COMPOSE = "graph_expand.v1", "multihop_compose.v1"
PAGE_CHARS = 8000
EXPAND_SCHEMA = {"type": "object", "required": ["features", "entities"], "properties": {
    "features": {"type": "array", "items": {"type": "string"}, "maxItems": K_FEAT},
    "entities": {"type": "array", "maxItems": K_ENT, "items": {"type": "object", "required": ["name", "relation"], "properties": {
        "name": {"type": "string"}, "relation": {"type": "string"}}}}}}
COMPOSE_SCHEMA = {"type": "object", "required": ["question", "answer", "hops", "facts"], "properties": {
    "question": {"type": "string"}, "answer": {"type": "string"}, "hops": {"type": "integer"},
    "facts": {"type": "array", "items": {"type": "string"}}}}


async def expand(llm: LLM, access, seed: str, mask: list[str], n_max: int = N_MAX) -> dict:
    """The graph grown from `seed`: {"nodes": {name: {"features": [...]}}, "edges": [...], "skips": [...]}."""
    graph = {"nodes": {seed: {"features": []}}, "edges": [], "skips": []}
    queue = [seed]
    while queue and len(graph["nodes"]) < n_max:
        entity = queue.pop(0)
        urls = access.search(entity, k=3, mask=mask)
        if not urls:
            graph["skips"].append(f"no page found for {entity!r}")
            continue
        url = urls[0]
        prompt = (load(EXPAND).replace("{entity}", entity).replace("{k_feat}", str(K_FEAT))
                  .replace("{k_ent}", str(K_ENT)).replace("{url}", url)
                  .replace("{text}", (access.text(url, mask=mask) or "")[:PAGE_CHARS]))
        data, skip = await llm.ask_json(prompt, max_tokens=512, schema=EXPAND_SCHEMA)
        if skip or not isinstance(data, dict):
            graph["skips"].append(skip or "reply is not an object")
            continue
        for feature in [f for f in data.get("features", []) if isinstance(f, str) and f.strip()][:K_FEAT]:
            graph["nodes"][entity]["features"].append({"text": feature.strip(), "url": url})
        for item in [e for e in data.get("entities", []) if isinstance(e, dict)][:K_ENT]:
            name, relation = str(item.get("name", "")).strip(), str(item.get("relation", "")).strip()
            if not name or not relation or name == entity:
                continue
            if name not in graph["nodes"]:
                if len(graph["nodes"]) >= n_max:
                    break
                graph["nodes"][name] = {"features": []}
                queue.append(name)
            graph["edges"].append({"src": entity, "dst": name, "relation": relation, "url": url})
    return graph


def sample_subgraph(graph: dict, seed: str, rng: random.Random, size: int = SUBGRAPH) -> list[str]:
    """A connected set of `size` nodes from `seed`: greedy by edges into the set, plus noise."""
    chosen = [seed]
    while len(chosen) < size:
        touching: dict[str, int] = {}
        for edge in graph["edges"]:
            for near, far in ((edge["src"], edge["dst"]), (edge["dst"], edge["src"])):
                if near in chosen and far not in chosen:
                    touching[far] = touching.get(far, 0) + 1
        if not touching:
            break
        chosen.append(max(sorted(touching), key=lambda name: touching[name] + rng.uniform(0, 0.5)))
    return chosen


def _facts(graph: dict, chosen: list[str]) -> list[dict]:
    facts = []
    for name in chosen:
        for feature in graph["nodes"][name]["features"]:
            facts.append({"id": f"f{len(facts) + 1}", "text": f"{name}: {feature['text']}", "url": feature["url"]})
    for edge in graph["edges"]:
        if edge["src"] in chosen and edge["dst"] in chosen:
            facts.append({"id": f"f{len(facts) + 1}", "text": f"{edge['src']} {edge['relation']} {edge['dst']}",
                          "url": edge["url"]})
    return facts


async def compose(llm: LLM, graph: dict, chosen: list[str]) -> tuple[dict | None, str | None]:
    """(question record, None) or (None, why not)."""
    facts = _facts(graph, chosen)
    prompt = (load(COMPOSE).replace("{entities}", "; ".join(chosen))
              .replace("{facts}", "\n".join(f"{f['id']}: {f['text']}" for f in facts)))
    data, skip = await llm.ask_json(prompt, max_tokens=512, schema=COMPOSE_SCHEMA)
    if skip:
        return None, skip
    if not isinstance(data, dict) or not isinstance(data.get("question"), str) or not data["question"].strip():
        return None, "reply has no question"
    answer = str(data.get("answer", "")).strip()
    hops = data.get("hops")
    if answer not in chosen:
        return None, "answer is not an entity of the subgraph"
    if not isinstance(hops, int) or not MIN_HOPS <= hops <= MAX_HOPS:
        return None, f"hops outside {MIN_HOPS}-{MAX_HOPS}"
    if answer.lower() in data["question"].lower():
        return None, "answer appears in the question"
    by_id = {f["id"]: f for f in facts}
    used = [by_id[i] for i in data.get("facts", []) if isinstance(i, str) and i in by_id]
    return {"question": data["question"].strip(), "answer": answer, "hops": hops, "facts": used or facts,
            "entities": chosen}, None
