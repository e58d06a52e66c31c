"""Credential formats are readers behind one interface (backoffice.scanning.credentials): the scan path asks the
registered readers in turn, a text none recognises is refused as it always was (`unknown_prefix`), and a new
format is one reader added to the registry."""
from __future__ import annotations

from datetime import datetime

import pytest

from backoffice.scanning import credentials
from backoffice.scanning.credentials import READERS, Credential, national, parse_scan_text, signed
from backoffice.scanning.payload import ParsedPayload, ScanRejected, issue_personal_payload
from factories import new_person


def _code(text) -> str:
    with pytest.raises(ScanRejected) as caught:
        parse_scan_text(text)
    return caught.value.code


def test_the_two_formats_are_registered_in_order():
    assert [reader.kind for reader in READERS] == ["signed", "national"]
    assert READERS == (signed.READER, national.READER)
    assert ParsedPayload is Credential  # the old name of a read credential still works


def test_each_reader_recognises_only_its_own_format(ctx):
    ours = issue_personal_payload(new_person())
    ours_national = "079123456789|NGUYEN VAN A|1990-01-02|0|1234567890|"
    assert signed.READER.recognises(ours) and not national.READER.recognises(ours)
    assert national.READER.recognises(ours_national) and not signed.READER.recognises(ours_national)
    assert parse_scan_text(ours).kind == "signed"
    assert parse_scan_text(ours_national) == national.READER.read(ours_national, now=datetime.now())


@pytest.mark.parametrize("text", ["hello", "https://example.vn/qr/abc", "HCMBO2:AAAA", "{\"v\": 1}", "12345"])
def test_a_text_no_reader_recognises_is_refused_as_before(ctx, text):
    with pytest.raises(ScanRejected) as caught:
        parse_scan_text(text)
    rejected = caught.value
    assert (rejected.code, rejected.status, rejected.detail) == ("unknown_prefix", 422, "")
    assert rejected.message == str(ScanRejected("unknown_prefix").message)


def test_the_first_reader_that_recognises_a_text_reads_it(ctx):
    # Ours by its prefix even with a "|" in it: the signed reader refuses it, the national one is never asked.
    assert _code(signed.PREFIX + "AB|CD|1990-01-01|0|123456") == "malformed"


def test_what_no_format_could_be_is_refused_before_any_reader(ctx, monkeypatch):
    asked = []

    class Greedy:
        kind = "greedy"

        def recognises(self, text: str) -> bool:
            asked.append(text)
            return True

        def read(self, text: str, *, now: datetime) -> Credential:
            return Credential(kind=self.kind, signed=False)

    monkeypatch.setattr(credentials, "READERS", (Greedy(),))
    assert (_code(None), _code(""), _code(" \r\n\t"), _code("x" * 1025), _code("a\x00b")) == (
        "empty", "empty", "empty", "too_long", "malformed")
    assert asked == []
    assert parse_scan_text("  anything\r\n").kind == "greedy" and asked == ["anything"]


def test_a_new_format_is_one_reader_more(ctx, monkeypatch):
    class Dcc:
        kind = "dcc"

        def recognises(self, text: str) -> bool:
            return text.startswith("HC1:")

        def read(self, text: str, *, now: datetime) -> Credential:
            if text == "HC1:":
                raise ScanRejected("malformed")
            return Credential(kind=self.kind, signed=True, full_name=text[4:])

    assert _code("HC1:NGUYEN VAN A") == "unknown_prefix"
    monkeypatch.setattr(credentials, "READERS", (*READERS, Dcc()))
    assert parse_scan_text("HC1:NGUYEN VAN A") == Credential(kind="dcc", signed=True, full_name="NGUYEN VAN A")
    assert _code("HC1:") == "malformed"
    assert parse_scan_text("079123456789|NGUYEN VAN A|1990-01-02|0||").kind == "national"
