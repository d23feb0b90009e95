"""`cper serve` as a production start: DEBUG unset, a SECRET_KEY, gunicorn with two workers on a
free port, static files collected (compressed, hashed) into a temporary STATIC_ROOT and served by
WhiteNoise, against a SQLite file prepared here (migrations, geography, the Hauts-de-France
contract). Requests say `X-Forwarded-Proto: https`, as the TLS-terminating proxy would.

Slow to prepare (collectstatic hashes and compresses some 2,700 files): one server per test
process, in the "servers" group of pytest-xdist.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("servers")

ROOT = Path(__file__).resolve().parents[1]
SLUG = "hauts-de-france-2021-2027"
DASHBOARD = f"/contrats/{SLUG}/tableau-de-bord/"
# WhiteNoise writes a Brotli copy of every file beside the gzip one when `brotli` is importable
# (it is, through WeasyPrint's fonttools): nine tenths of collectstatic's time here (some 40 s of
# the fixture), for copies no test reads — Chromium asks for Brotli over HTTPS only, and the
# tests check the gzip copies. The prepared folder has the gzip copies alone.
PREPARE = f"""
import sys
sys.modules["brotli"] = None
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("geo", "load")
call_command("contract", "load", {str(ROOT / "contracts" / f"{SLUG}.yaml")!r})
call_command("collectstatic", interactive=False, verbosity=0)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def production_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a production start: no DEBUG, the HTTPS defaults, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CPER_"))}
    env.pop("SECRET_KEY", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cper.settings",
            "DATABASE_URL": f"sqlite:///{folder / 'cper.sqlite3'}",
            "CPER_VAR_DIR": str(folder),
            "CPER_STATIC_ROOT": str(folder / "static"),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


@dataclass
class Server:
    url: str
    log: Path
    folder: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(
            self.url + path, headers={"X-Forwarded-Proto": "https", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


# Session scope: under pytest-xdist the worker may run other tests of the "servers" group between
# two of this module, and a module fixture would then be prepared again (about 70 s).
@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = production_env(folder, CPER_BIND=f"127.0.0.1:{port}", CPER_WORKERS="2")
    subprocess.run([sys.executable, "-c", PREPARE], env=env, cwd=ROOT, check=True, timeout=1200)
    log_path = folder / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cper.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/sante", timeout=10):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.3)
        yield Server(url, log_path, folder, proc)
    finally:
        proc.terminate()  # gunicorn: graceful stop
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_health_answers_200_with_the_database_and_the_version(server: Server) -> None:
    status, _, body = server.get("/sante")
    assert status == 200
    figures = json.loads(body)
    assert figures["statut"] == "ok"
    assert figures["base_de_donnees"] == "ok"
    assert figures["version"] == "0.1.0"
    assert "file_des_taches" in figures


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = {"link": "href", "script": "src", "img": "src"}.get(tag)
        if name and found.get(name) and (tag != "link" or found.get("rel") != "canonical"):
            self.urls.append(str(found[name]))


def test_every_static_asset_of_the_dashboard_answers_with_a_cacheable_hashed_name(
    server: Server,
) -> None:
    status, _, body = server.get(DASHBOARD)
    assert status == 200
    parser = _Assets()
    parser.feed(body.decode())
    static = [u for u in parser.urls if u.startswith("/static/")]
    # The DSFR's stylesheets and scripts, htmx, the site's own stylesheet, the favicons.
    assert len(static) >= 8
    assert any("dsfr.min." in u for u in static) and any("htmx" in u for u in static)
    for url in static:
        status, headers, content = server.get(url, {"Accept-Encoding": "gzip"})
        assert status == 200, url
        assert content, url
        if url.endswith((".css", ".js")):
            # Hashed names are cached for a year; WhiteNoise sends the compressed copy.
            assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
            assert "max-age=315360000" in headers["Cache-Control"], url
            assert headers.get("Content-Encoding") == "gzip", url


def test_a_missing_page_is_the_french_404_without_technical_detail(server: Server) -> None:
    status, _, body = server.get("/contrats/nulle-part/")
    html = body.decode()
    assert status == 404
    assert "<h1>Page non trouvée</h1>" in html
    for technical in ("Traceback", "URLconf", "urlpatterns", "DEBUG", "settings.py"):
        assert technical not in html


def test_the_security_headers_are_sent(server: Server) -> None:
    status, headers, _ = server.get(DASHBOARD)
    assert status == 200
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_plain_http_is_redirected_to_https_but_the_health_probe_is_not(server: Server) -> None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(server.url + DASHBOARD, timeout=60)
    assert caught.value.code == 301
    assert caught.value.headers["Location"].startswith("https://127.0.0.1")
    with opener.open(server.url + "/sante", timeout=60) as response:
        assert response.status == 200


def test_logs_are_json_lines_carrying_the_request_id(server: Server) -> None:
    status, headers, _ = server.get("/sante", {"X-Request-ID": "essai-journal-42"})
    assert status == 200 and headers["X-Request-ID"] == "essai-journal-42"
    deadline = time.monotonic() + 10
    while True:
        text = server.log.read_text().splitlines()
        lines = [json.loads(line) for line in text if line.startswith("{")]
        mine = [r for r in lines if r.get("request_id") == "essai-journal-42"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (record,) = mine
    assert (record["path"], record["status"], record["level"]) == ("/sante", 200, "INFO")
    assert record["time"].endswith("+00:00")


def test_check_deploy_is_clean_with_the_production_variables(server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cper.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_env(server.folder),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_secret_key_the_start_is_refused(server: Server) -> None:
    env = production_env(server.folder, CPER_BIND=f"127.0.0.1:{_free_port()}")
    del env["SECRET_KEY"]
    serve = subprocess.run(
        [sys.executable, "-m", "cper.cli", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert serve.returncode == 1
    assert "SECRET_KEY n'est pas défini" in serve.stderr
    # Any other WSGI server loading the application gets the same refusal.
    wsgi = subprocess.run(
        [sys.executable, "-c", "import cper.wsgi"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wsgi.returncode != 0
    assert "SECRET_KEY n'est pas défini" in wsgi.stderr


def test_without_the_collected_static_files_the_start_is_refused(server: Server) -> None:
    env = production_env(server.folder, CPER_STATIC_ROOT=str(server.folder / "vide"))
    serve = subprocess.run(
        [sys.executable, "-m", "cper.cli", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert serve.returncode == 1
    assert "cper collectstatic" in serve.stderr


def test_a_hup_reloads_the_workers_without_a_failed_request(server: Server) -> None:
    def workers() -> set[str]:
        text = server.log.read_text()
        return set(re.findall(r"Booting worker with pid: (\d+)", text))

    before = workers()
    server.process.send_signal(signal.SIGHUP)
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers() - before) < 2:
        statuses.append(server.get("/sante")[0])
    statuses += [server.get("/sante")[0] for _ in range(5)]
    assert len(workers() - before) == 2  # two new workers
    assert set(statuses) == {200}
    assert server.process.poll() is None


def test_the_local_demo_needs_no_secret_key(server: Server) -> None:
    env = production_env(server.folder, DJANGO_DEBUG="1")
    del env["SECRET_KEY"]
    wsgi = subprocess.run(
        [sys.executable, "-c", "import cper.wsgi"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wsgi.returncode == 0, wsgi.stderr


@pytest.mark.browser
def test_the_dashboard_in_chromium_loads_every_file_and_breaks_no_rule_of_the_csp(
    server: Server,
) -> None:
    """With hashed names, the files the stylesheets name themselves (fonts, icons) load too."""
    chromium = os.environ.get("CPER_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"Chromium introuvable ({chromium})")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(extra_http_headers={"X-Forwarded-Proto": "https"})
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"échec {r.url}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
        loaded: list[str] = []
        page.on("response", lambda r: loaded.append(r.url))
        for path in (DASHBOARD, f"/contrats/{SLUG}/territoires/", "/api/v1/docs"):
            response = page.goto(server.url + path, wait_until="networkidle", timeout=120_000)
            assert response is not None and response.status == 200, path
        browser.close()
    assert problems == []
    # The DSFR's fonts and icons, named by the stylesheets, came through the hashed names.
    assert any(re.search(r"/static/dsfr/dist/fonts/.+\.[0-9a-f]{12}\.woff2$", u) for u in loaded)
