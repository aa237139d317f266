"""Page embedding as a Ray job: one encoder actor per GPU (CPU actors where there are none),
each loading the model once and writing its parts to storage every node reads; `build_dense`
folds the parts into the world's dense index exactly as it does locally."""

from __future__ import annotations

from typing import Iterable, Iterator


class _Encoder:
    def __init__(self, model_name: str, device: str | None, batch_size: int, cpu_threads: int | None,
                 pooling: str = "max"):
        if cpu_threads:
            import torch

            torch.set_num_threads(cpu_threads)  # CPU actors share the node's cores
        from worldbuild.index.dense import load_model

        self.model = load_model(model_name, device)
        self.batch_size, self.pooling = batch_size, pooling

    def encode(self, path: str, ids: list[int], texts: list) -> int:
        from worldbuild.index.dense import encode_part

        return encode_part(self.model, path, ids, texts, self.batch_size, self.pooling)


class RayEncoder:
    """`encode_parts` with a pool of Ray actors; parts are written where `build_dense` expects them."""

    def __init__(self, address: str | None, model_name: str, device: str | None = None, batch_size: int = 64,
                 actors: int | None = None, max_restarts: int = 3, pooling: str = "max"):
        from worldbuild.raycluster import connect

        ray = connect(address)
        self.ray = ray
        # size the pool from what is free now: an actor that cannot be placed would hold its parts forever
        resources = ray.available_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        count = actors or (gpus or cpus)
        options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        actor = ray.remote(max_restarts=max_restarts, max_task_retries=max_restarts, **options)(_Encoder)
        threads = None if gpus else 1
        self.actors = [actor.remote(model_name, "cuda" if gpus and device is None else device, batch_size, threads, pooling)
                       for _ in range(count)]
        self.kind = f"{count} {'GPU' if gpus else 'CPU'} actor(s)"

    def encode_parts(self, parts: Iterable[tuple[str, list[int], list[str]]]) -> Iterator[int]:
        ray = self.ray
        pending = iter(parts)
        in_flight: dict = {}
        idle = list(self.actors)
        while True:
            while idle:
                part = next(pending, None)
                if part is None:
                    break
                actor = idle.pop()
                in_flight[actor.encode.remote(*part)] = actor
            if not in_flight:
                return
            done, _ = ray.wait(list(in_flight), num_returns=1)
            idle.append(in_flight.pop(done[0]))
            yield ray.get(done[0])
