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


def test_the_command_line_help_leads_with_the_main_job_and_cuts_no_description():
    from click.testing import CliRunner

    from memorybench.cli import cli

    text = CliRunner().invoke(cli, ["--help"]).output
    examples = text.split("Examples:", 1)[1].split("Exit codes:", 1)[0]
    assert examples.strip().splitlines()[0].strip().startswith("memorybench horizon")
    commands = text.split("Commands:", 1)[1]
    names = [line.split()[0] for line in commands.splitlines() if line.startswith("  ")
             and not line.startswith("   ")]
    assert names[0] == "horizon" and len(names) == len(set(names)) >= 12
    assert "..." not in commands
