# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""quay_notification run as Ansible runs it, against a stub of /api/v1 on a loopback port that
answers in Quay's shapes and records every request (see test_quay_api_modules.py for the why;
registry_app/tests/e2e/test_collection_notification.py runs the module against the real API)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TOKEN = "api-token-for-notification-tests-0123"
HOOK = "https://hooks.example/services/T0/B0/very-secret-hook-token"
BASE = "/repository/acme/app/notification/"


class Stub(object):
    def __init__(self):
        self.routes = {}
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req_path = self.path.split("?", 1)[0]
                stub.requests.append((self.command, req_path, json.loads(body) if body else None))
                status, answer = stub.routes.get((self.command, req_path), (404, {"error_message": "Not Found"}))
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method, api_path, status=200, body=None):
        self.routes[(method, "/api/v1" + api_path)] = (status, body)

    def writes(self):
        return [(m, p[len("/api/v1"):], b) for m, p, b in self.requests if m != "GET"]


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def run(run_module, stub):
    def go(args, check_mode=False):
        full = {"quay_host": stub.url, "quay_token": TOKEN, "repository": "acme/app", "title": "CI hook"}
        full.update(args)
        return run_module("quay_notification", full, check_mode=check_mode)

    return go


def existing(url=HOOK, failures=0, uuid="u-1"):
    return {"uuid": uuid, "title": "CI hook", "event": "repo_push", "method": "webhook", "config": {"url": url},
            "event_config": {}, "number_of_failures": failures}


WANT = {"event": "repo_push", "method": "webhook", "config": {"url": HOOK}}


def test_check_mode_reports_the_creation_and_writes_nothing(run, stub):
    stub.route("GET", BASE, body={"notifications": []})
    result = run(WANT, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {} and result["diff"]["after"]["config"] == {"url": "********"}
    assert stub.writes() == []
    assert "very-secret-hook-token" not in result.stdout


def test_created_with_quays_request_body(run, stub):
    stub.route("GET", BASE, body={"notifications": []})
    stub.route("POST", BASE, 201, existing())
    result = run(dict(WANT, event_config={"x": 1}))
    assert result["changed"] is True
    assert stub.writes() == [("POST", BASE, {"event": "repo_push", "method": "webhook", "config": {"url": HOOK},
                                             "eventConfig": {"x": 1}, "title": "CI hook"})]
    assert result["notification"]["uuid"] == "u-1"
    assert "very-secret-hook-token" not in result.stdout


def test_the_same_notification_is_left_alone(run, stub):
    stub.route("GET", BASE, body={"notifications": [existing()]})
    result = run(WANT)
    assert result["changed"] is False and stub.writes() == []


def test_a_different_config_replaces_it(run, stub):
    stub.route("GET", BASE, body={"notifications": [existing(url="https://old.example/")]})
    stub.route("DELETE", BASE + "u-1", 204)
    stub.route("POST", BASE, 201, existing(uuid="u-2"))
    result = run(WANT)
    assert result["changed"] is True
    assert [(m, p) for m, p, _b in stub.writes()] == [("DELETE", BASE + "u-1"), ("POST", BASE)]
    assert result["notification"]["uuid"] == "u-2"


def test_reset_failures_only_when_there_are_some(run, stub):
    stub.route("GET", BASE, body={"notifications": [existing(failures=3)]})
    stub.route("POST", BASE + "u-1", 204)
    result = run(dict(WANT, reset_failures=True))
    assert result["changed"] is True and stub.writes() == [("POST", BASE + "u-1", None)]
    assert result["notification"]["number_of_failures"] == 0
    stub.routes[("GET", "/api/v1" + BASE)] = (200, {"notifications": [existing()]})
    assert run(dict(WANT, reset_failures=True))["changed"] is False


def test_test_notification_is_queued(run, stub):
    stub.route("GET", BASE, body={"notifications": [existing()]})
    stub.route("POST", BASE + "u-1/test", 200, {})
    result = run(dict(WANT, test=True))
    assert result["changed"] is True and stub.writes() == [("POST", BASE + "u-1/test", None)]


def test_absent(run, stub):
    stub.route("GET", BASE, body={"notifications": []})
    assert run({"state": "absent"})["changed"] is False
    stub.route("GET", BASE, body={"notifications": [existing()]})
    stub.route("DELETE", BASE + "u-1", 204)
    result = run({"state": "absent"})
    assert result["changed"] is True and stub.writes() == [("DELETE", BASE + "u-1", None)]


def test_missing_repository_and_missing_options_fail_clearly(run, stub):
    result = run(WANT)
    assert result["failed"] is True and "repository acme/app does not exist" in result["msg"]
    result = run({"method": "webhook"})
    assert result["failed"] is True and "event" in result["msg"]
    result = run(dict(WANT, repository="no-slash"))
    assert result["failed"] is True and "namespace/name" in result["msg"]
