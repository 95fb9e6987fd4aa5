"""The log formatters: JSON lines and text, both tagged with the request id inside an RPC."""
import json
import logging
import re

import pytest

from xmodal_server.logs import JsonFormatter, TextFormatter, make_formatter, request_id


def record(msg="hello %s", args=("world",), exc_info=None, level=logging.INFO):
    return logging.LogRecord("xmodal_server.x", level, __file__, 1, msg, args, exc_info)


def test_json_line_has_time_level_logger_message():
    out = JsonFormatter().format(record())
    assert "\n" not in out
    data = json.loads(out)
    assert set(data) == {"time", "level", "logger", "message"}
    assert (data["level"], data["logger"], data["message"]) == ("INFO", "xmodal_server.x", "hello world")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])


def test_json_carries_the_request_id_only_inside_a_request():
    token = request_id.set("req-42")
    try:
        assert json.loads(JsonFormatter().format(record()))["request_id"] == "req-42"
    finally:
        request_id.reset(token)
    assert "request_id" not in json.loads(JsonFormatter().format(record()))


def test_json_keeps_a_multiline_message_and_traceback_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record("first line\nsecond line ünïcode", (), exc_info=sys.exc_info(), level=logging.ERROR)
    out = JsonFormatter().format(rec)
    assert out.count("\n") == 0
    data = json.loads(out)
    assert data["message"] == "first line\nsecond line ünïcode"
    assert "ValueError: boom" in data["exception"] and "Traceback" in data["exception"]


def test_text_appends_the_request_id_to_the_first_line():
    assert TextFormatter().format(record()).endswith("INFO xmodal_server.x: hello world")
    token = request_id.set("req-7")
    try:
        assert TextFormatter().format(record()).endswith("hello world [request_id=req-7]")
    finally:
        request_id.reset(token)


def test_make_formatter():
    assert isinstance(make_formatter("json"), JsonFormatter)
    assert isinstance(make_formatter("text"), TextFormatter)
    with pytest.raises(ValueError, match="'text' or 'json'"):
        make_formatter("xml")
