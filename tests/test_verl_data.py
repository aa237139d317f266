"""The data guard a GRPO stage passes before GPUs are spent: enough rows for one batch (verl
drops the partial one), a readable validation set, the columns and `extra_info` our tools and
reward read. Files are written as `synth-qa` exports them."""

import pyarrow as pa
import pyarrow.parquet as pq

from worldbuild.agent.verl_data import check, main
from worldbuild.tasks import verl_row


def write_tasks(path, n: int, **change) -> str:
    rows = [verl_row({"id": f"t{i}", "question": f"Question {i}?", "answer": f"A{i}", "kind": "single_hop",
                      "mask_urls": [f"https://a.example/{i}"], "snapshot": "s"}, i, "system") for i in range(n)]
    for row in rows:
        for key, value in change.items():
            row["extra_info"][key] = value
    pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({}), str(path))
    return str(path)


def test_enough_rows_and_a_validation_set_pass(tmp_path):
    summary, problems = check(write_tasks(tmp_path / "t.parquet", 12), write_tasks(tmp_path / "v.parquet", 1), 4)
    assert problems == [] and summary == "data ok: train 12 rows (3 step(s) of 4), validation 1 rows"
    summary, problems = check(str(tmp_path / "t.parquet"), None, 12)
    assert problems == [] and summary.endswith("validation off")


def test_too_few_empty_missing_and_misshapen_data_are_named(tmp_path):
    val = write_tasks(tmp_path / "v.parquet", 1)
    _, problems = check(write_tasks(tmp_path / "small.parquet", 3), val, 4)
    assert len(problems) == 1 and "3 row(s), fewer than 4 = data.train_batch_size" in problems[0]
    _, problems = check(write_tasks(tmp_path / "empty.parquet", 0), val, 4)  # what export used to write
    assert len(problems) == 1 and "lacks column(s) data_source, prompt, reward_model, extra_info" in problems[0]
    _, problems = check(write_tasks(tmp_path / "t.parquet", 4), str(tmp_path / "nowhere.parquet"), 4)
    assert problems == [f"validation: {tmp_path}/nowhere.parquet: no such file"]
    (tmp_path / "junk.parquet").write_bytes(b"tasks")
    _, problems = check(str(tmp_path / "junk.parquet"), None, 1)
    assert "not a readable parquet" in problems[0]
    _, problems = check(write_tasks(tmp_path / "nomask.parquet", 4, tools_kwargs={"search": {"create_kwargs": {"urls": ["x"]}}}), None, 4)
    assert problems == ["train: 4 row(s) unusable, first row 0: extra_info.tools_kwargs.search.create_kwargs.mask "
                        "is not a list of URLs"]


def test_the_command_prints_one_line(tmp_path, capsys):
    assert main(["--train", write_tasks(tmp_path / "small.parquet", 3), "--no-val", "--batch-size", "128"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fewer than 128" in err
