"""The scenario's mock containers, in MedPerf's style: one task per run, at MedPerf's mount paths.

Data: ``nums.txt`` holds rows of integers, ``ans.txt`` one expected answer per row. The preparator adds
``add`` to every number; a model predicts ``sum(row) * weight * times``; a model whose parameters say
``fail_unless_demo`` stops before its last prediction on anything but the demo rows (MedPerf's
model-bug: it passes the compatibility test and fails on real data); the metrics count answers.
"""

import os
import sys

import yaml

VOLUMES = "/mlcommons/volumes"
DEMO = [[4, 5, 6], [11, 2]]  # the demo rows once prepared with add: 2


def params():
    with open(f"{VOLUMES}/parameters/parameters.yaml") as f:
        return yaml.safe_load(f) or {}


def rows(path, kind=int):
    with open(path) as f:
        return [[kind(x) for x in line.replace(",", " ").split()] for line in f if line.strip()]


def prepare():
    add = params().get("add", 0)
    with open(f"{VOLUMES}/data/nums.csv", "w") as f:
        f.writelines(",".join(str(n + add) for n in row) + "\n" for row in rows(f"{VOLUMES}/raw_data/nums.txt"))
    with open(f"{VOLUMES}/raw_labels/ans.txt") as src, open(f"{VOLUMES}/labels/ans.csv", "w") as dst:
        dst.write(src.read())


def sanity_check():
    data, labels = rows(f"{VOLUMES}/data/nums.csv"), rows(f"{VOLUMES}/labels/ans.csv", float)
    if len(data) != len(labels):
        sys.exit(f"{len(data)} rows of data but {len(labels)} labels")


def statistics():
    data = rows(f"{VOLUMES}/data/nums.csv")
    stats = {"num_cases": len(data), "num_per_case": sum(map(len, data)) / max(len(data), 1)}
    with open(f"{VOLUMES}/statistics/statistics.yaml", "w") as f:
        yaml.safe_dump(stats, f)


def infer():
    p = params()
    with open(f"{VOLUMES}/additional_files/weight.txt") as f:
        weight = float(f.read())
    data = rows(f"{VOLUMES}/data/nums.csv")
    failing = p.get("fail_unless_demo") and data != DEMO
    with open(f"{VOLUMES}/predictions/preds.txt", "w") as f:
        for i, row in enumerate(data):
            if failing and i == len(data) - 1:
                f.close()
                sys.exit("the model fails on its last case (as MedPerf's model-bug does on real data)")
            print(f"case {i + 1} of {len(data)}", flush=True)
            f.write(f"{sum(row) * weight * p.get('times', 1)}\n")


def evaluate():
    with open(f"{VOLUMES}/labels/ans.csv") as f:
        answers = [float(line) for line in f if line.strip()]
    path = f"{VOLUMES}/predictions/preds.txt"
    predictions = []
    if os.path.exists(path):
        with open(path) as f:
            predictions = [float(line) for line in f if line.strip()]
    correct = sum(abs(p - a) < 1e-6 for p, a in zip(predictions, answers[:len(predictions)], strict=True))
    results = {"correct": correct, "incorrect": len(predictions) - correct,
               "missing": len(answers) - len(predictions)}
    with open(f"{VOLUMES}/results/results.yaml", "w") as f:
        yaml.safe_dump(results, f)


if __name__ == "__main__":
    {"prepare": prepare, "sanity_check": sanity_check, "statistics": statistics, "infer": infer,
     "evaluate": evaluate}[sys.argv[1]]()
