"""What a newcomer reads first: ``help(memorybench)`` opens with the public API."""

import pydoc

import memorybench


def test_help_opens_with_every_public_function_before_the_internal_modules():
    text = pydoc.render_doc(memorybench, renderer=pydoc.plaintext)
    description = text.split("DESCRIPTION", 1)[1].split("PACKAGE CONTENTS", 1)[0]
    assert memorybench.__all__
    for name in memorybench.__all__:
        assert f"mb.{name}(" in description, name
    assert text.index("mb.horizon(") < text.index("PACKAGE CONTENTS")
