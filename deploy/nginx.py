"""deploy/nginx.conf with other ports: the one template of the README, `make cluster` and the tests.

The template is a working config as it stands (nginx on 127.0.0.1:8080, instances on 8081 and 8082); this
rewrites its lines marked `# rivulet: listen` and `# rivulet: instance`, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf")
LISTEN_MARK = "# rivulet: listen"
INSTANCE_MARK = "# rivulet: instance"


def render(
    listen: int,
    instances: Sequence[int],
    *,
    host: str = "127.0.0.1",
    user: str | None = None,
    template: Path = TEMPLATE,
) -> str:
    """The template with nginx on `host:listen` and one upstream server per port of `instances` (on `host`).

    `user` adds nginx's `user` directive: needed when nginx starts as root, where its default user ("nobody",
    group "nobody") does not exist on Debian.
    """
    if not instances:
        raise ValueError("an upstream needs at least one instance port")
    lines = template.read_text().splitlines(keepends=True)
    out: list[str] = [f"user {user};\n"] if user else []
    listens = servers = 0
    for line in lines:
        if LISTEN_MARK in line:
            out.append(re.sub(r"listen \S+;", f"listen {host}:{listen};", line))
            listens += 1
        elif INSTANCE_MARK in line:
            if not servers:  # the first marked line stands for them all
                out += [re.sub(r"server \S+", f"server {host}:{port}", line, count=1) for port in instances]
            servers += 1
        else:
            out.append(line)
    if listens != 1 or not servers:
        raise ValueError(f"{template} lost its '{LISTEN_MARK}' or '{INSTANCE_MARK}' lines")
    return "".join(out)
