"""pytest plugin: run HMA 2.0's own API tests over HTTP against a server.

HMA's tests (hasher-matcher-actioner/src/OpenMediaMatch/tests) talk to the
app in-process through Flask's test client. Loaded with
`-p hma_http_plugin`, this plugin keeps HMA's `app` fixture (a real HMA app
on a throwaway PostgreSQL database, reset before each test, which the tests
also use to seed banks and build indexes through HMA's storage) and makes
every `app.test_client()` an HTTP client to HMA_TEST_BASE_URL instead.

Environment:
  HMA_TEST_BASE_URL  the server under test (real HMA or `hashsieve serve`);
                     unset: the plugin does nothing (HMA in-process).
  HMA_TEST_RESET     a shell command run before each test, after HMA's tables
                     are reset (restarts the server on an empty store).
  HMA_TEST_MIRROR=1  the server does not share HMA's database: when a test
                     makes its client, the banks and content that the test
                     put into HMA's storage are copied to the server through
                     HMA's own curation API (POST /c/banks, /c/bank/<b>/signal).
  HMA_TEST_ROLES_RESTART
                     a shell command that restarts the server on the same
                     store with extra arguments: a test that sets one of
                     HMA's role settings (`client.application.config
                     ["ROLE_HASHER"] = False`) gets the server restarted
                     with the equivalent `--hma-roles`. Unset: the setting
                     stays in the test process, as before (real HMA over
                     HTTP cannot take it).

Nothing of HMA is copied here; the tests are run from HMA's source tree.
"""

from __future__ import annotations

import json as jsonlib
import os
import subprocess
import typing as t

import pytest
import requests

import OpenMediaMatch.tests.utils as hma_utils

BASE = os.environ.get("HMA_TEST_BASE_URL", "").rstrip("/")
RESET = os.environ.get("HMA_TEST_RESET")
MIRROR = os.environ.get("HMA_TEST_MIRROR") == "1"
ROLES_RESTART = os.environ.get("HMA_TEST_ROLES_RESTART")
# HMA's role settings and hashsieve's `--hma-roles` names for them.
ROLES = {"ROLE_HASHER": "hasher", "ROLE_MATCHER": "matcher", "ROLE_CURATOR": "curator"}
TIMEOUT = 60


class HttpResponse:
    """The parts of werkzeug's TestResponse that HMA's tests read."""

    def __init__(self, r: requests.Response) -> None:
        self.status_code = r.status_code
        self.data = r.content
        self.headers = r.headers
        self.mimetype = (r.headers.get("content-type") or "").split(";")[0].strip()

    @property
    def is_json(self) -> bool:
        return self.mimetype == "application/json" or self.mimetype.endswith("+json")

    def get_json(self, silent: bool = True) -> t.Any:
        if not self.is_json:
            return None
        try:
            return jsonlib.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self) -> t.Any:
        return self.get_json()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class _RemoteConfig(dict):
    """`client.application.config`. A role setting written here restarts
    the server with the same roles (HMA_TEST_ROLES_RESTART); anything else
    stays in the test process, which a remote server cannot see."""

    def __setitem__(self, key: str, value: t.Any) -> None:
        super().__setitem__(key, value)
        if key in ROLES and ROLES_RESTART:
            on = [name for k, name in ROLES.items() if self.get(k, True)]
            subprocess.run(
                f"{ROLES_RESTART} --hma-roles={','.join(on)}", shell=True, check=True
            )


class _RemoteApplication:
    """`client.application`: tests that flip HMA's in-process config (roles)
    write here."""

    def __init__(self) -> None:
        self.config: dict[str, t.Any] = _RemoteConfig()


class HttpClient:
    """The parts of Flask's test client that HMA's tests call, over HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.application = _RemoteApplication()

    def open(
        self,
        method: str,
        path: str,
        *,
        json: t.Any = None,
        data: t.Any = None,
        query_string: t.Any = None,
        headers: t.Any = None,
    ) -> HttpResponse:
        files = None
        form = None
        if isinstance(data, dict):
            # werkzeug: a tuple value is (file or path, filename, content type)
            files = {}
            form = {}
            for k, v in data.items():
                if isinstance(v, tuple):
                    src, name, ctype = (list(v) + [None, None])[:3]
                    body = open(src, "rb").read() if isinstance(src, str) else src.read()
                    files[k] = (name or k, body, ctype or "application/octet-stream")
                else:
                    form[k] = v
        elif data is not None:
            form = data
        r = self.session.request(
            method,
            self.base + path,
            json=json,
            data=form,
            files=files or None,
            params=query_string,
            headers=headers,
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        return HttpResponse(r)

    def get(self, path: str, **kw: t.Any) -> HttpResponse:
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: t.Any) -> HttpResponse:
        return self.open("POST", path, **kw)

    def put(self, path: str, **kw: t.Any) -> HttpResponse:
        return self.open("PUT", path, **kw)

    def delete(self, path: str, **kw: t.Any) -> HttpResponse:
        return self.open("DELETE", path, **kw)


def _mirror_storage(client: HttpClient) -> None:
    """Copy the banks and content in HMA's storage to the server under test."""
    from OpenMediaMatch.persistence import get_storage

    storage = get_storage()
    banks = storage.get_banks()
    for name, cfg in banks.items():
        r = client.post(
            "/c/banks",
            json={"name": name, "enabled_ratio": cfg.matching_enabled_ratio},
        )
        assert r.status_code in (200, 201, 403), (name, r.status_code, r.data)
    signals: dict[int, dict[str, str]] = {}
    for st_cfg in storage.get_signal_type_configs().values():
        for item in storage.bank_yield_content(st_cfg.signal_type):
            signals.setdefault(item.bank_content_id, {})[
                item.signal_type_name
            ] = item.signal_val
    for content in storage.bank_content_get(sorted(signals)):
        r = client.post(f"/c/bank/{content.bank.name}/signal", json=signals[content.id])
        assert r.status_code == 200, (content.bank.name, r.status_code, r.data)


def _make_client() -> HttpClient:
    client = HttpClient(BASE)
    if MIRROR:
        _mirror_storage(client)
    return client


def _hma_app_fixture() -> t.Callable[..., t.Any]:
    orig = hma_utils.app
    get = getattr(orig, "_get_wrapped_function", None)
    if get is not None:
        return get()
    return getattr(orig, "__pytest_wrapped__").obj


if BASE:
    _orig_app = _hma_app_fixture()

    @pytest.fixture()
    def app() -> t.Iterator[t.Any]:
        gen = _orig_app()
        flask_app = next(gen)
        if RESET:
            subprocess.run(RESET, shell=True, check=True)
        flask_app.test_client = lambda *a, **kw: _make_client()  # type: ignore[method-assign]
        try:
            yield flask_app
        finally:
            try:
                next(gen)
            except StopIteration:
                pass

    # HMA's test modules import `app` (and `client`, which asks for `app` by
    # name) from this module: they get ours, as this plugin loads first.
    hma_utils.app = app
