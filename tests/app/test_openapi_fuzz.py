"""schemathesis (PyPI) over the live server's /openapi.json, every check on (issue 17 #7): the
real `huashu serve` on a fresh SQLite file, an admin key, so operations are tried past 401.

It runs schemathesis' command line, as a developer would, with tests/app/schemathesis.toml
(the few exceptions, each with its reason). Bounded to fit CI: HUASHU_FUZZ_EXAMPLES cases per
operation and phase (default 30, about 1–2 minutes on two cores), seed HUASHU_FUZZ_SEED. Wider
locally: `HUASHU_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/app/test_openapi_fuzz.py`
(README "The edge"). No example database is kept: a failure is found again from the seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.helpers import create_key, fresh_database, serving

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = int(os.environ.get("HUASHU_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("HUASHU_FUZZ_SEED", "20261203"))
FUZZ_TIMEOUT_S = float(os.environ.get("HUASHU_FUZZ_TIMEOUT_S", "900"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with fresh_database("sqlite", tmp_path_factory) as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CACHE_DIR": str(tmp_path_factory.mktemp("fuzz-cache")),
            # The fuzzer is one fast client; the rate limit has tests of its own.
            "RATE_LIMIT_PER_MINUTE": "10000000",
        }
        key = create_key(env, "admin", "fuzz-admin")
        with serving(env, tmp_path_factory.mktemp("fuzz-log") / "server.log") as served:
            yield served, key


def test_the_live_openapi_document_holds_under_every_schemathesis_check(server, tmp_path):
    served, key = server
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{served.base}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: hypothesis reads lambdas' source with ast.parse, and this CPython 3.11's
        # ast can fail with a spurious "AST constructor recursion depth mismatch" (gh-106905),
        # which two workers' threads met here under CI=true.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    # Its own working folder: schemathesis writes nothing into the checkout.
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=FUZZ_TIMEOUT_S, check=False
    )
    output = run.stdout + run.stderr
    assert key not in output  # schemathesis filters the Authorization header it prints
    assert run.returncode == 0, output[-12000:]
    (report,) = tmp_path.glob("junit-*.xml")
    cases = ElementTree.parse(report).getroot().iter("testcase")
    failed = [
        case.get("name")
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    ]
    assert not failed, output[-12000:]
    # Every operation of the document was tried (one that failed to load would test none).
    document = httpx.get(f"{served.base}/openapi.json", timeout=10).json()
    operations = sum(len(path) for path in document["paths"].values())
    tested = next(line for line in output.splitlines() if line.strip().startswith("Tested:"))
    assert int(tested.split(":")[1]) == operations >= 30, tested
    server_log = served.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[-4000:]
