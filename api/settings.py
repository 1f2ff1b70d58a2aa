"""The server's settings: where it listens, who may call it."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from llm.settings import EnvSettings, comma_list


class ServerSettings(EnvSettings):
    """Address, CORS and password of the HTTP server (page and `/ask`)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra origins allowed to call /ask, or ['*'] for any"
    )
    password: SecretStr | None = Field(
        None, description="Password for the login page and the /ask bearer token (environment only, never a flag)"
    )
    no_auth: bool = Field(False, description="Serve a non-loopback address without a password (explicit opt-out)")
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Proxies (addresses or networks) whose X-Forwarded-For names the real client; none by default",
    )
    instance_id: str | None = Field(
        None, description="Names this instance in an X-Rivulet-Instance response header (behind a load balancer)"
    )

    _split_lists = field_validator("cors_origins", "forwarded_allow_ips", mode="before")(comma_list)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
        return value

    def uvicorn_proxy_options(self) -> dict[str, Any]:
        """uvicorn's proxy-header options: X-Forwarded-For is read only from the trusted proxies, if any.

        uvicorn alone would trust 127.0.0.1 (or $FORWARDED_ALLOW_IPS); without --forwarded-allow-ips Rivulet
        trusts no one, so a local client cannot name another address to dodge the login rate limit.
        """
        if not self.forwarded_allow_ips:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": ",".join(self.forwarded_allow_ips)}

    @field_validator("password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value
