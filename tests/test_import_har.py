"""`runner import har`: API calls only, in order, recorded statuses expected; no credential written."""

from __future__ import annotations

import base64
import json

from helpers import CANARY, run_cli


def _entry(url: str, *, method="GET", status=200, kind=None, headers=(), post=None, mime="application/json", text=""):
    entry = {
        "request": {"method": method, "url": url, "headers": [{"name": n, "value": v} for n, v in headers]},
        "response": {"status": status, "content": {"mimeType": mime, "text": text}},
    }
    if kind:
        entry["_resourceType"] = kind
    if post is not None:
        entry["request"]["postData"] = post
    return entry


def har_of(base: str, *, image_bytes: int = 2000) -> dict:
    image = base64.b64encode(b"\x89PNG" + b"\0" * image_bytes).decode()
    return {"log": {"version": "1.2", "creator": {"name": "test"}, "entries": [
        _entry(f"{base}/", kind="document", mime="text/html", text="<html>"),
        _entry(f"{base}/logo.png", kind="image", mime="image/png", text=image),
        _entry(f"{base}/echo", method="OPTIONS", kind="preflight", status=204),
        _entry(f"{base}/echo", method="POST", status=200, kind="fetch",
               headers=[(":authority", "x"), ("Authorization", f"Bearer {CANARY}"), ("Content-Type", "application/json"),
                        ("sec-fetch-mode", "cors"), ("Cookie", f"sid={CANARY}")],
               post={"mimeType": "application/json", "text": json.dumps({"name": "Rex", "token": CANARY})}),
        _entry(f"{base}/items?x-api-key={CANARY}", kind="xhr", headers=[("Authorization", f"Bearer {CANARY}")]),
        _entry(f"{base}/status/201", method="POST", kind="xhr", status=201,
               headers=[("Authorization", f"Bearer {CANARY}")],
               post={"mimeType": "application/x-www-form-urlencoded", "params": [{"name": "a", "value": "1"}]}),
        _entry(f"{base}/font.woff2", kind="font", mime="font/woff2", text=image),
    ]}}


def test_har_keeps_api_calls_in_order_and_runs(tmp_path, http_server):
    har = tmp_path / "session.har"
    har.write_text(json.dumps(har_of(http_server.url)))
    out = tmp_path / "specs"
    code, stdout, err = run_cli(["import", "har", str(har), "-o", str(out)])
    assert code == 0, err
    files = sorted(out.glob("*.yaml"))
    assert len(files) == 1
    text = files[0].read_text()
    assert CANARY not in text and CANARY not in err and CANARY not in stdout
    assert [line for line in text.splitlines() if line.startswith("- name:")] == [
        "- name: POST /echo", "- name: GET /items", "- name: POST /status/201"]
    assert "status: 201" in text and "auth:\n  bearer: api_token" in text  # one auth for every call: spec level
    assert "4 entries left out" in err
    assert run_cli(["validate", str(files[0])])[0] == 0
    env = {"API_URL": http_server.url, "API_TOKEN": CANARY, "COOKIE_SESSION": f"sid={CANARY}",
           "X_API_KEY": CANARY, "TOKEN": CANARY}
    code, report, _ = run_cli(["run", str(files[0])], env=env)
    assert code == 0, report
    posted = http_server.requests_to("/echo")[-1]
    assert json.loads(posted.body) == {"name": "Rex", "token": CANARY}
    assert http_server.requests_to("/status/201")[-1].body == b"a=1"


def test_firefox_style_har_without_resource_type(tmp_path):
    doc = har_of("http://127.0.0.1:9")
    for entry in doc["log"]["entries"]:
        entry.pop("_resourceType", None)
    har = tmp_path / "ff.har"
    har.write_text(json.dumps(doc))
    code, out, err = run_cli(["import", "har", str(har)])
    assert code == 0, err
    assert "/logo.png" not in out and "/font.woff2" not in out and "method: OPTIONS" not in out
    assert "url: /echo" in out and "url: /items" in out


def test_broken_or_empty_har_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [ {"request": ')
    code, _, err = run_cli(["import", "har", str(bad), "-o", str(tmp_path / "out")])
    assert code == 2 and "not a HAR file" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    empty = tmp_path / "empty.har"
    empty.write_text('{"log": {"entries": []}}')
    assert run_cli(["import", "har", str(empty)])[0] == 2
    images = tmp_path / "images.har"
    images.write_text(json.dumps({"log": {"entries": [_entry("http://x.test/a.png", kind="image", mime="image/png")]}}))
    code, _, err = run_cli(["import", "har", str(images)])
    assert code == 2 and "API call" in err
    code, _, err = run_cli(["import", "har", str(tmp_path / "missing.har")])
    assert code == 2 and "cannot read" in err


def test_hand_edited_entries_of_the_wrong_shape_are_skipped_or_read_not_crashed_on(tmp_path):
    good = _entry("http://127.0.0.1:9/api/ok", kind="xhr")
    odd = [
        {"request": {"method": "GET", "url": "http://127.0.0.1:9/api/h", "headers": 5}, "response": {"status": 200},
         "_resourceType": "xhr"},
        {"request": {"method": "POST", "url": "http://127.0.0.1:9/api/p", "postData": 5}, "response": {"status": 200},
         "_resourceType": "xhr"},
        _entry("http://127.0.0.1:9/api/f", method="POST", kind="xhr",
               post={"mimeType": "application/x-www-form-urlencoded", "params": 5}),
        _entry("http://127.0.0.1:9/api/n", kind="xhr", headers=[("Bad Name", "1")]),
        _entry("http://127.0.0.1:9/api/m", method="A B", kind="xhr"),
        _entry("http://[::1/api/v6", kind="xhr"),
        {"request": 5, "response": 5, "_resourceType": "xhr"},
    ]
    source = tmp_path / "odd.har"
    source.write_text(json.dumps({"log": {"entries": [good, *odd]}}))
    code, out, err = run_cli(["import", "har", str(source)])
    assert code == 0, err
    assert "Traceback" not in err and "internal error" not in err
    assert "/api/ok" in out and "/api/h" in out and "/api/n" in out
    assert "/api/m" not in out and "v6" not in out


def test_a_broken_har_is_refused_without_quoting_its_text(tmp_path):
    # a HAR holds tokens: the JSON parser's own message may quote the text around the error
    har = tmp_path / "broken.har"
    har.write_text('{"log": {"entries": [{"request": {"headers": [{"value": Bearer ' + CANARY + '}]}}]}}')
    code, out, err = run_cli(["import", "har", str(har)])
    assert code == 2
    assert "not a HAR file (not valid JSON" in err
    assert CANARY not in out + err
