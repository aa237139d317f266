"""An OpenAI-compatible chat-completions server that answers from a script: the stand-in for
vLLM/SGLang/OpenAI in tests (no weights exist here). A real HTTP server on 127.0.0.1.

    python -m tests.llm_double --port 8001 [--script steps.json]

A script is a list of steps, used in order (the last one repeats):
    {"content": "text"}           reply with this message
    {"json": {...}}               reply with this object, serialised
    {"status": 500}               answer with this HTTP status (429, 500, ...)
    {"delay": 3.0, ...}           wait before answering (for timeouts)
    {"echo": true}                reply with the last user message
Without a script every request gets {"echo": true}. Requests are kept in `.requests`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LLMDouble:
    def __init__(self, script: list[dict] | None = None, host: str = "127.0.0.1", port: int = 0,
                 responder=None):
        """`responder(request_body) -> step` answers instead of the script (concurrent tests)."""
        self.script = list(script or [{"echo": True}])
        self.responder = responder
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "double", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                step = double._next(body)
                with double._lock:
                    double.in_flight += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                try:
                    time.sleep(step.get("delay", 0))
                    self._answer(step, body)
                finally:
                    with double._lock:
                        double.in_flight -= 1

            def _answer(self, step: dict, body: dict) -> None:
                if "status" in step:
                    self._send(step["status"], {"error": {"message": f"scripted status {step['status']}"}})
                    return
                if "json" in step:
                    content = json.dumps(step["json"])
                elif step.get("echo"):
                    content = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
                else:
                    content = step.get("content", "")
                self._send(200, {
                    "id": f"chatcmpl-{len(double.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "double"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                })

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _next(self, body: dict) -> dict:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "LLMDouble":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--script", help="JSON file with a list of steps")
    args = parser.parse_args()
    script = json.load(open(args.script)) if args.script else None
    with LLMDouble(script, port=args.port) as double:
        print(f"OpenAI-compatible double at {double.base_url}", flush=True)
        try:
            double.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
