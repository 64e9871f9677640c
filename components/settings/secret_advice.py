"""How to set a stack's secrets, said the same way everywhere (CLI, errors, stack-file headers).

The value never goes on the command line (shell history, process list): `pulumi config set`
without a value reads it from stdin, prompting without echo on a terminal or taking a pipe
(`< FILE`). `--stack` is always given, so the secret lands in the stack meant. Pulumi then
stores it encrypted in Pulumi.<stack>.yaml (a `secure:` value).
"""

from __future__ import annotations

NAMESPACE = "mlstack"
STDIN_NOTE = "the value is read from stdin: typed at the prompt, or < FILE"
ENCRYPTED_NOTE = (
    "Pulumi stores secrets encrypted in the stack file (as `secure:` values); "
    "mlstack never prints them"
)


def set_secret_command(key: str, stack: str) -> str:
    """`pulumi config set --secret` for `key` (below `mlstack:`, dotted for a secret file:
    `secrets.<model>.<file>`) of `stack`, without the value."""
    if "." in key:
        return f"pulumi config set --secret --stack {stack} --path '{NAMESPACE}:{key}'"
    return f"pulumi config set --secret --stack {stack} {NAMESPACE}:{key}"


def config_stack(source: str) -> str:
    """`Pulumi.<env>.yaml` -> env (the --stack a command needs)."""
    return source.removeprefix("Pulumi.").removesuffix(".yaml")
