"""Check the task parquet a GRPO stage will train on before any GPU is spent on it: verl's
trainer drops the last partial batch (`drop_last=True`) and stops on `assert
len(self.train_dataloader) >= 1` when a file has fewer rows than `data.train_batch_size`; its
dataset cannot read a parquet without columns; our tools and reward need each row's
`extra_info` (mask, question) and `reward_model.ground_truth`.

    python -m worldbuild.agent.verl_data --train F (--val F | --no-val) --batch-size N

Exit 0 with one summary line; 1 with one line that names every problem; 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys

COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")
TOOLS = ("search", "browse")


def _rows(path: str) -> tuple[list[dict] | None, list[str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None, [f"{path}: no such file"]
    except Exception as exc:  # pyarrow's errors for a file that is not parquet vary by version
        return None, [f"{path}: not a readable parquet ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"]
    missing = [column for column in COLUMNS if column not in table.column_names]
    if missing:
        return None, [f"{path}: {table.num_rows} rows, lacks column(s) {', '.join(missing)} "
                      f"(has {table.column_names or 'none'}); export it with `worldbuild synth-qa`"]
    return table.select(list(COLUMNS)).to_pylist(), []


def row_problem(row: dict) -> str | None:
    """What is wrong with one row for our tools, reward and verl's dataset, or None."""
    prompt = row.get("prompt")
    if not isinstance(prompt, list) or not any(isinstance(m, dict) and m.get("role") == "user" and m.get("content")
                                               for m in prompt):
        return "prompt is not a chat with a user message"
    truth = (row.get("reward_model") or {}).get("ground_truth")
    if not isinstance(truth, str) or not truth.strip():
        return "reward_model.ground_truth is not a non-empty string"
    info = row.get("extra_info")
    if not isinstance(info, dict):
        return "extra_info is not a struct"
    if not isinstance(info.get("question"), str) or not info["question"].strip():
        return "extra_info.question is not a non-empty string"
    kwargs = info.get("tools_kwargs")
    for tool in TOOLS:
        mask = ((kwargs or {}).get(tool) or {}).get("create_kwargs", {}) if isinstance(kwargs, dict) else None
        if not isinstance(mask, dict) or not isinstance(mask.get("mask"), list):
            return f"extra_info.tools_kwargs.{tool}.create_kwargs.mask is not a list of URLs"
    return None


def check_file(path: str, need: int, label: str) -> tuple[int, list[str]]:
    """(rows, problems) of one split that must hold at least `need` rows."""
    rows, problems = _rows(path)
    if rows is None:
        return 0, [f"{label}: {p}" for p in problems]
    if len(rows) < need:
        problems.append(f"{label}: {path} has {len(rows)} row(s), fewer than {need}"
                        + (" = data.train_batch_size (verl drops the partial batch and stops on an empty "
                           "dataloader): keep more tasks or lower TRAIN_BATCH_SIZE with ALLOW_DEVIATION=1"
                           if label == "train" else " (an empty validation set: export more, or VALIDATION=0)"))
    bad = [(index, why) for index, row in enumerate(rows) if (why := row_problem(row))]
    if bad:
        index, why = bad[0]
        problems.append(f"{label}: {len(bad)} row(s) unusable, first row {index}: {why}")
    return len(rows), problems


def check(train: str, validation: str | None, batch_size: int) -> tuple[str, list[str]]:
    """(summary line, problems); validation None means validation is off."""
    train_rows, problems = check_file(train, batch_size, "train")
    summary = f"data ok: train {train_rows} rows ({train_rows // max(batch_size, 1)} step(s) of {batch_size})"
    if validation is None:
        summary += ", validation off"
    else:
        val_rows, more = check_file(validation, 1, "validation")
        problems += more
        summary += f", validation {val_rows} rows"
    return summary, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--val")
    group.add_argument("--no-val", action="store_true", help="Validation is off (trainer.test_freq=-1)")
    parser.add_argument("--batch-size", type=int, required=True)
    args = parser.parse_args(argv)
    summary, problems = check(args.train, None if args.no_val else args.val, args.batch_size)
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
