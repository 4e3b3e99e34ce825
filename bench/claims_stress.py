"""Four workers started together on fresh PostgreSQL databases, again and again: does the
study end with exactly n_trials? The test suite starts them once
(tests/search/test_storages.py); a race that shows once in five starts needs repeats.

    .venv/bin/python bench/claims_stress.py [--tries 15] [--out bench/out/claims]

Each try: two fresh databases (Optuna, MLflow tracking store) on the local server, a 6-trial
study of the tests' tiny CNN, 4 `optuna-run` processes at once (1 thread each). A try is BAD
when a worker exits non-zero or the study does not hold exactly 6 COMPLETE trials; its
databases are kept and the trials table and every worker's output go to OUT/tryN/.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import finish, start, write_study  # noqa: E402

SERVER = "127.0.0.1:5432"
N_TRIALS = 6


def fresh_databases(count: int) -> list[str]:
    names = [f"fm_stress_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with psycopg.connect(f"postgresql://{SERVER}/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    return names


def drop(names: list[str]) -> None:
    with psycopg.connect(f"postgresql://{SERVER}/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def one_try(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    optuna_db, mlflow_db = names = fresh_databases(2)
    path = write_study(folder, n_trials=N_TRIALS)
    env = {
        "OPTUNA_STORAGE": f"postgresql+psycopg://{SERVER}/{optuna_db}",
        "MLFLOW_TRACKING_URI": f"postgresql+psycopg://{SERVER}/{mlflow_db}",
        "TF_NUM_INTRAOP_THREADS": "1",
    }
    results = [finish(w, timeout=900) for w in [start(path, env=env) for _ in range(4)]]
    with psycopg.connect(f"postgresql://{SERVER}/{optuna_db}") as db:
        rows = db.execute("SELECT trial_id, number, state FROM trials ORDER BY trial_id").fetchall()
    bad = len(rows) != N_TRIALS or any(r[2] != "COMPLETE" for r in rows)
    bad = bad or any(code != 0 for code, _ in results)
    print(folder.name, "BAD" if bad else "ok", rows, flush=True)
    if bad:
        outputs = (f"== worker {i} exit {code}\n{out}" for i, (code, out) in enumerate(results))
        (folder / "evidence.txt").write_text(
            "\n".join(map(str, rows)) + f"\ndatabases kept: {names}\n\n" + "\n\n".join(outputs)
        )
    else:
        drop(names)
    return not bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/out/claims"))
    args = parser.parse_args()
    good = sum(one_try(args.out.resolve() / f"try{i}") for i in range(args.tries))
    print(f"{good} of {args.tries} tries held exactly {N_TRIALS} trials")


if __name__ == "__main__":
    main()
