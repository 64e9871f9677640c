"""The comparison behind `mlstack diff`: field paths, URN changes, and the PR-comment format."""

from __future__ import annotations

from mlstack.diff import FieldChange, compare, field_changes, format_markdown, format_text

HEADER = "# resource: kubernetes:apps/v1:Deployment mlstack-iris-deployment\n# urn: {urn}\n"


def doc(body: str, urn: str = "urn:pulumi:qa::mlstack::a$b::x") -> str:
    return HEADER.format(urn=urn) + body


def test_field_paths_quote_keys_with_dots_and_index_lists() -> None:
    before = doc("metadata:\n  labels:\n    app.kubernetes.io/version: 1.0.0\nargs: [a, b]\n")
    after = doc("metadata:\n  labels:\n    app.kubernetes.io/version: 1.1.0\nargs: [a]\n")
    assert field_changes(before, after) == (
        FieldChange("args[1]", "b", _absent()),
        FieldChange('metadata.labels["app.kubernetes.io/version"]', "1.0.0", "1.1.0"),
    )


def _absent() -> object:
    from mlstack import diff

    return diff._MISSING


def test_a_new_urn_is_reported_as_a_replacement_field() -> None:
    changes = field_changes(doc("a: 1\n", "urn:old"), doc("a: 1\n", "urn:new"))
    assert changes == (FieldChange("(urn)", "urn:old", "urn:new"),)


def test_type_changes_count_even_when_values_compare_equal() -> None:
    assert field_changes(doc("replicas: 1\n"), doc("replicas: true\n")) == (
        FieldChange("replicas", 1, True),
    )


def test_added_removed_and_text_files() -> None:
    result = compare(
        "qa",
        "main (abc)",
        {"gone.yaml": doc("a: 1\n"), "image/iris/Dockerfile": "FROM a\n"},
        {"new.yaml": doc("a: 1\n"), "image/iris/Dockerfile": "FROM b\n"},
    )
    assert [(c.kind, c.file) for c in result.changes] == [
        ("removed", "gone.yaml"),
        ("changed", "image/iris/Dockerfile"),
        ("added", "new.yaml"),
    ]
    text = format_text(result)
    assert "1 changed, 1 added, 1 removed" in text
    assert "    (content changed)" in text
    assert "--- /dev/null\n+++ b/new.yaml" in text


def test_markdown_truncates_long_diffs_and_escapes_cells() -> None:
    base = {"a.yaml": doc("x: '```|'\n" + "".join(f"k{i}: 1\n" for i in range(400)))}
    head = {"a.yaml": doc("x: '```|!'\n" + "".join(f"k{i}: 2\n" for i in range(400)))}
    markdown = format_markdown(compare("qa", "main", base, head), limit=2_000)
    assert "more lines not shown; run `mlstack diff qa --base <ref>`" in markdown
    assert "````diff" in markdown  # a longer fence than any backtick run inside
    assert "<code>&#x27;```&#124;&#x27;</code> → <code>&#x27;```&#124;!&#x27;</code>" in markdown
