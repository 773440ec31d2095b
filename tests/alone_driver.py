"""Run generated scripts one after another in this one fresh Python, as `python SCRIPT ARGS`
would run each, with kdsl unimportable: one TensorFlow start-up for all of them.

    python -I tests/alone_driver.py JOBS.json

JOBS.json holds a list of {"name", "script", "args", "cwd", "warnings_as_errors", "out",
"err"}. Each script runs as `__main__` in its own working directory with its own
`sys.argv`; what it writes to file descriptors 1 and 2 (Python's and TensorFlow's native
lines alike) goes to its `out` and `err` files, and its exit status to the last line of
`err` as `EXIT <code>`. Between scripts Keras starts a new session, as a new process
would. Only the standard library is imported here: the scripts import what they need.
`tests/test_scripts_alone.py` runs it.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
import warnings


def run_job(job: dict) -> int:
    """Run one script as `python [-W error] SCRIPT ARGS` would: its exit status."""
    os.chdir(job["cwd"])
    sys.argv = [job["script"], *job["args"]]
    with warnings.catch_warnings():
        if job["warnings_as_errors"]:
            warnings.simplefilter("error")
        try:
            runpy.run_path(job["script"], run_name="__main__")
        except SystemExit as stop:
            if stop.code is None:
                return 0
            if isinstance(stop.code, int):
                return stop.code
            print(stop.code, file=sys.stderr)
            return 1
        except BaseException:  # noqa: BLE001 - reported as Python would, exit 1
            traceback.print_exc()
            return 1
    return 0


def redirected(job: dict) -> int:
    """`run_job` with file descriptors 1 and 2 going to the job's files."""
    saved = os.dup(1), os.dup(2)
    with open(job["out"], "wb") as out, open(job["err"], "wb") as err:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = run_job(job)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    with open(job["err"], "a", encoding="utf-8") as err:
        err.write(f"\nEXIT {code}\n")
    return code


def new_session() -> None:
    """What a new process would start from: Keras's global state cleared."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()


def main() -> None:
    sys.modules["kdsl"] = None  # type: ignore[assignment]  # `import kdsl` fails, as it must
    with open(sys.argv[1], encoding="utf-8") as file:
        jobs = json.load(file)
    for job in jobs:
        redirected(job)
        new_session()


if __name__ == "__main__":
    main()
