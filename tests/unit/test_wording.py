"""Errors in plain words: API field paths become form labels, library messages are rephrased."""

from sendhouse.domain.wording import human_line, human_lines, label_of


def test_field_paths_become_labels():
    assert label_of("filterCriteria.groups[1].value") == "Condition 2, value"
    assert label_of("filterCriteria.groups[0]") == "Condition 1"
    assert label_of("from.email") == "From address"
    assert label_of("customFields.plan") == "Property “plan”"
    assert label_of("somethingNew") == "somethingNew"


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
