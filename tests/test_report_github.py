"""GitHub Actions workflow commands: annotation format and escaping, add-mask, canary."""

from __future__ import annotations

import dataclasses

from results_factory import CANARY, CANARY_FORMS, canary_redactor, canary_run, full_run
from runner.report import github
from runner.source import Span


def test_escaping():
    assert github.escape_data("50% a\r\nb: c, d") == "50%25 a%0D%0Ab: c, d"
    assert github.escape_property("50% a\r\nb: c, d") == "50%25 a%0D%0Ab%3A c%2C d"


def test_add_mask_escapes_the_value():
    assert github.add_mask("p%4ss\r\nword") == "::add-mask::p%254ss%0D%0Aword"
    assert github.add_mask(CANARY) == f"::add-mask::{CANARY}"


def test_annotations_for_failures_only():
    lines = github.annotations(full_run())
    assert len(lines) == 10  # 4 FAIL + 3 AUTH + 2 ERROR + 1 spec that could not run
    assert all(line.startswith("::error ") for line in lines)
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert lines[0] == ("::error file=specs/pets.yaml,line=34,title=FAIL%3A fetch the first pet::"
                        "status: expected 200, got 404%0A$.name: expected \"Rex\", selected nothing%0A"
                        "hint: the body has no 'name' key%0Aheader ETag: expected it to exist")
    assert lines[1].startswith("::error file=specs/pets.yaml,line=41,title=AUTH 401%3A create a pet::"
                               "token 'pets_token' from env PETS_API_TOKEN rejected: invalid_token")
    assert lines[3].startswith("::error file=specs/orders.yaml,line=12,title=AUTH%3A list orders::secret 'orders_token'")
    assert lines[-1] == ("::error file=specs/broken.yaml,title=ERROR%3A broken could not run::"
                         "could not read specs/broken.yaml: permission denied")


def test_step_without_span_has_no_file():
    run = full_run()
    spec = run.specs[1]
    step = dataclasses.replace(spec.steps[1], span=None)
    lines = github.annotations(dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),)))
    assert lines == ["::error title=ERROR%3A health check::connection refused: 127.0.0.1:9%0Ahint: is the server running?"]


def test_properties_with_commas_and_colons():
    run = full_run()
    spec = dataclasses.replace(run.specs[1], path="dir,x/a:b.yaml")
    old = spec.steps[1].span
    step = dataclasses.replace(spec.steps[1], name="a, b: c", span=Span("dir,x/a:b.yaml", old.start, old.end))
    lines = github.annotations(dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),)))
    assert lines[0].startswith("::error file=dir%2Cx/a%3Ab.yaml,line=20,title=ERROR%3A a%2C b%3A c::")


def test_hostile_message_is_one_inert_line():
    lines = github.annotations(full_run())
    hostile = next(line for line in lines if "hostile server text" in line)
    assert "\x1b" not in hostile and "\x00" not in hostile and "\x12" not in hostile
    # embedded commands become data of this one line (newlines escaped), and are neutralised too
    assert "%0A: :stop-commands::pwned%0A" in hostile


def test_canary_absent():
    text = "\n".join(github.annotations(canary_run(), redactor=canary_redactor()))
    for form in CANARY_FORMS:
        assert form not in text
    assert "***" in text
