"""Property-based fuzzing of every route in the web app's OpenAPI schema (Schemathesis, on Hypothesis).

Valid and invalid requests, generated from the schema with a fixed seed and a bounded number of examples per
route, go to the real app (authorised, with a session and its CSRF token, so bodies are really parsed). None may
be answered with a 5xx, and nothing may be logged at ERROR.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date

import schemathesis
import schemathesis.specs.openapi.schemas  # noqa: F401  (see below)
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from bot.config import Settings
from bot.web.app import create_app

# Schemathesis imports its OpenAPI modules on first use, and pytest rewrites them (it is a plugin) with ast.parse.
# CPython 3.11 before 3.11.9 keeps the AST recursion depth per interpreter, not per thread (gh-106905): parsed
# next to another thread it failed once in CI with "AST constructor recursion depth mismatch". Import them here,
# at collection, with no other thread running.
TOKEN = "fuzz-token-0123456789"
EXAMPLES_PER_ROUTE = 8
# Dates from the whole calendar, the edges first: where a period's arithmetic overflows.
schemathesis.openapi.format("date", (st.sampled_from([date.max, date.min, date(9999, 1, 1)]) | st.dates())
                            .map(date.isoformat))


def test_no_route_answers_5xx_or_logs_an_error(runtime, caplog) -> None:  # type: ignore[no-untyped-def]
    changed = Settings(environment="test", database_url=runtime.settings.database_url, api_token=TOKEN)
    app = create_app(replace(runtime, settings=changed))
    browser = TestClient(app)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/playground").text)
    assert csrf is not None
    headers = {"Authorization": f"Bearer {TOKEN}", "X-CSRF-Token": csrf.group(1)}
    cookies = dict(browser.cookies)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    caplog.set_level(logging.INFO)
    server_errors: list[str] = []
    routes = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        routes += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def call(case) -> None:  # type: ignore[no-untyped-def]
                response = case.call(headers={**headers, **(case.headers or {})}, cookies=cookies)
                if response.status_code >= 500:
                    server_errors.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.200}: "
                                         f"{response.status_code} {response.text[:200]}")

            try:
                call()
            except Unsatisfiable:
                pass  # nothing invalid can be made for a route without parameters
    assert routes >= 10, "the schema lists the API's routes"
    assert not server_errors, server_errors[:10]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[:10]
