"""Errors in plain words: API field paths become form labels and form field names, library and API
messages are rephrased."""

from sendhouse.domain.automations import TRIGGERS
from sendhouse.domain.wording import TRIGGER_WORDS, human_line, human_lines, label_of, rephrase, trigger_words
from sendhouse.errors import Conflict, InvalidInput
from sendhouse.web.dashboard.field_errors import field_errors, form_field


def test_field_paths_become_labels():
    assert label_of("filterCriteria.groups[1].value") == "Condition 2, value"
    assert label_of("filterCriteria.groups[0]") == "Condition 1"
    assert label_of("from.email") == "From address"
    assert label_of("customFields.plan") == "Property “plan”"
    assert label_of("somethingNew") == "somethingNew"
    assert label_of("emails[1]") == "Address 2"
    assert label_of("steps[0].delay.value") == "Step 1, delay value"
    assert label_of("to.email") == "To"


def test_messages_read_as_sentences():
    assert human_line("name", "name must be at most 200 characters") == "Name must be at most 200 characters"
    assert (
        human_line("filterCriteria.groups[1].value", "must be a number")
        == "Condition 2, value: must be a number"
    )
    reserved = human_line(
        "email",
        "Invalid email format: The part after the @-sign is a special-use or reserved "
        "name that cannot be used with email.",
    )
    assert reserved.startswith("Email: this domain is reserved") and "special-use" not in reserved
    assert human_lines([{"field": "", "message": "nothing here"}, "junk"]) == ["nothing here"]
    assert label_of("emails[1]") == "Address 2"


def test_api_wording_a_form_never_shows_is_rephrased():
    assert rephrase("A contact with this email already exists; use POST /contacts/email to upsert") == (
        "A contact with this email already exists"
    )
    assert human_line("name", "'city' is a reserved contact field") == (
        "Name: 'city' is reserved by the API; choose another name"
    )
    assert human_line("filterCriteria.groups[0].value", "must be an ISO 8601 date or date-time string") == (
        "Condition 1, value: must be a date such as 2026-12-31, or a date and time such as 2026-12-31T09:00"
    )
    assert (
        label_of("filterCriteria.groups") == "Conditions"
        and label_of("confirm_password") == "New password again"
    )


def test_api_field_paths_become_form_field_names():
    assert form_field("customFields.plan") == "cf_plan"
    assert form_field("filterCriteria.groups[2].value") == "value_2"
    assert form_field("filterCriteria.groups[1]") == "field_1"
    assert form_field("from.email", {"from.email": "fromEmail"}) == "fromEmail"
    assert form_field("subject") == "subject"
    assert form_field("emails[3]") == "emails"  # an item of a list: the list's own field
    assert form_field("steps[0].delay.value") == "s0"  # that step of the step editor
    refused = InvalidInput(
        "Validation failed",
        details=[
            {"field": "subject", "message": "line 1, column 4: unclosed {{"},
            {"field": "subject", "message": "must be at most 998 characters"},
        ],
    )
    assert field_errors(refused) == {
        "subject": ["Subject: line 1, column 4: unclosed {{", "Subject: must be at most 998 characters"]
    }
    duplicate = Conflict("A contact with this email already exists", code="CONTACT_ALREADY_EXISTS")
    assert field_errors(duplicate, codes={"CONTACT_ALREADY_EXISTS": "email"}) == {
        "email": ["A contact with this email already exists"]
    }
    assert field_errors(duplicate) == {}


def test_every_automation_trigger_reads_as_words():
    assert {trigger_words(t) for t in TRIGGERS} == set(TRIGGER_WORDS.values())
    assert all("_" not in trigger_words(t) for t in TRIGGERS)
    assert trigger_words("future_kind") == "future kind"


def test_step_paths_name_the_step_and_its_branch():
    assert label_of("steps[1].email.senderEmail") == "Step 2, email sender email"
    assert (
        label_of("steps[2].branches[0].filterCriteria.groups[0].value") == "Step 3, branch 1, condition value"
    )
    assert label_of("steps[2].branches[1].nextStepId") == "Step 3, branch 2, next step id"
    assert label_of("steps[2].branches[1]") == "Step 3, branch 2"
    assert form_field("steps[2].branches[1].label") == "s2"
