"""`X-Rivulet-Instance`: which instance answered, behind a load balancer (only when RIVULET_INSTANCE_ID is set)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-rivulet-instance"


class InstanceHeader:
    """Adds `X-Rivulet-Instance: <name>` to every HTTP response.

    A pure ASGI middleware, so a streaming `/ask` answer still passes through chunk by chunk.
    """

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.value = name.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)
