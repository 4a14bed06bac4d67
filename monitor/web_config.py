"""The Prometheus exporter web configuration: TLS and basic auth for ``/metrics``.

The file format is the one Prometheus exporters share (prometheus/exporter-toolkit,
``--web.config.file``), so one file can serve node_exporter and Vitals alike::

    tls_server_config:
      cert_file: server.crt          # relative paths: from the file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:                # user: bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')
      prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG

Of ``tls_server_config`` the file fields above are supported; inline ``cert``/``key``,
cipher and curve lists, ``client_allowed_sans``, ``http_server_config`` and
``rate_limit`` are refused by name rather than ignored. ``client_auth_type``
``RequestClientCert`` and ``RequireAnyClientCert`` (a certificate asked for but not
verified) cannot be had from Python's TLS and are refused too; exporter-toolkit
calls them insecure.

Examples
--------
>>> import bcrypt
>>> cfg = WebConfig(basic_auth_users={"prom": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()})
>>> import base64
>>> cfg.authorized("Basic " + base64.b64encode(b"prom:s3cret").decode())
True
>>> cfg.authorized("Basic " + base64.b64encode(b"prom:guess").decode())
False
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from functools import cached_property
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitor.core.contract import error_message

ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_UNVERIFIED = ("RequestClientCert", "RequireAnyClientCert")
_DUMMY_HASH = bcrypt.hashpw(b"never a password", bcrypt.gensalt(10))
"""Checked against for an unknown user, so that a wrong name takes as long as a
wrong password (exporter-toolkit does the same)."""


class TLSServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"

    @model_validator(mode="after")
    def _consistent(self) -> TLSServerConfig:
        if self.client_auth_type in _UNVERIFIED:
            raise ValueError(
                f"client_auth_type {self.client_auth_type} (a client certificate asked for "
                "but not verified) is not supported: use RequireAndVerifyClientCert or "
                "VerifyClientCertIfGiven"
            )
        verifying = self.client_auth_type != "NoClientCert"
        if verifying and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if not verifying and self.client_ca_file is not None:
            raise ValueError("client_ca_file is set but client_auth_type is NoClientCert")
        if _VERSIONS[self.min_version] > _VERSIONS[self.max_version]:
            raise ValueError("min_version is above max_version")
        return self

    def context(self) -> ssl.SSLContext:
        """A server-side TLS context for these files and policies."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS[self.min_version]
        ctx.maximum_version = _VERSIONS[self.max_version]
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        if self.client_ca_file is not None:
            ctx.load_verify_locations(cafile=str(self.client_ca_file))
            ctx.verify_mode = (
                ssl.CERT_REQUIRED
                if self.client_auth_type == "RequireAndVerifyClientCert"
                else ssl.CERT_OPTIONAL
            )
        return ctx


class WebConfig(BaseModel):
    """TLS for the metrics endpoint and the users allowed to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, SecretStr] = Field(
        default={}, description="user -> bcrypt hash; empty: no authentication."
    )

    @model_validator(mode="after")
    def _bcrypt_hashes(self) -> WebConfig:
        for user, hashed in self.basic_auth_users.items():
            if ":" in user:
                raise ValueError(f"basic_auth_users: a user name cannot contain ':' ({user!r})")
            if not hashed.get_secret_value().startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        return self

    @cached_property
    def _granted(self) -> set[bytes]:
        return set()

    def ssl_context(self) -> ssl.SSLContext | None:
        return None if self.tls_server_config is None else self.tls_server_config.context()

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header grants access (always, without users).

        A granted header is remembered by its SHA-256, so a scraper pays bcrypt once."""
        if not self.basic_auth_users:
            return True
        if not authorization or not authorization.startswith("Basic "):
            return False
        digest = hashlib.sha256(authorization.encode()).digest()
        if digest in self._granted:
            return True
        try:
            user, sep, password = base64.b64decode(authorization[6:], validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        hashed = self.basic_auth_users.get(user.decode("utf-8", "replace")) if sep else None
        target = _DUMMY_HASH if hashed is None else hashed.get_secret_value().encode()
        try:
            ok = bcrypt.checkpw(password, target) and hashed is not None
        except ValueError:  # a malformed hash
            ok = False
        if ok and len(self._granted) < 64:
            self._granted.add(digest)
        return ok


def load_web_config(path: Path) -> WebConfig:
    """Read a web config file; relative file names are taken from its directory."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read it as YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    tls = data.get("tls_server_config")
    if isinstance(tls, dict):
        for key in ("cert_file", "key_file", "client_ca_file"):
            if isinstance(tls.get(key), str):
                tls[key] = str(path.parent / tls[key])
    try:
        config = WebConfig(**data)
        config.ssl_context()  # the files exist and hold a key and certificates
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {error_message(e)}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ValueError(f"{path}: invalid web config\n" + "\n".join(lines)) from None
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{path}: tls_server_config: cannot load the TLS files: {exc}") from None
    return config
