"""Help text people can read at 80 columns.

The app uses click's plain help layout (`rich_markup_mode=None`): each option on its own line
with its placeholder (`--model SPEC`, `--endpoint-mode vip|dnsrr`) and its help wrapped under it,
where Rich's boxed table squeezes long option names and words into narrow columns and cuts them.
Typer still writes Python types as placeholders (`ENV <str>`, `--base <str>`) and a required
argument as `{ENV}` in the usage line; the group below makes them `ENV` and `--base TEXT` for
every command of the app, whoever adds it.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperGroup

_REQUIRED = re.compile(r"^\{(.+)\}$")
_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "dir": "DIR", "path": "PATH"}


def readable_type(shown: str | None) -> str | None:
    """`<str>` -> TEXT, `<list[str]>` -> TEXT, `<text|markdown>` -> [text|markdown]."""
    if not shown or not (shown.startswith("<") and shown.endswith(">")):
        return shown
    label = shown[1:-1]
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if "|" in label:
        return f"[{label}]"
    return _TYPE_NAMES.get(label, label.upper())


def _plain_usage(param: Any) -> None:
    if getattr(param, "_mlstack_plain_usage", False):
        return
    usage = param.get_usage_pieces

    def get_usage_pieces(ctx: Any) -> list[str]:
        return [_REQUIRED.sub(r"\1", piece) for piece in usage(ctx)]

    param.get_usage_pieces = get_usage_pieces
    if param.param_type_name == "argument":  # its name is the placeholder: no Python type
        param.display_type_rich = lambda ctx: None
    elif param.metavar is None and not getattr(param, "is_flag", False):
        shown = param.display_type_rich
        param.display_type_rich = lambda ctx: readable_type(shown(ctx))
    param._mlstack_plain_usage = True


class ReadableGroup(TyperGroup):
    """The `mlstack` group: `ENV`, not `{ENV}`, in every command's usage line."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not getattr(command, "_mlstack_plain_usage", False):
            command._mlstack_plain_usage = True  # type: ignore[attr-defined]
            original = command.get_params

            def get_params(ctx: Any) -> Any:
                params = original(ctx)
                for param in params:
                    _plain_usage(param)
                return params

            command.get_params = get_params  # type: ignore[method-assign]
        return command
