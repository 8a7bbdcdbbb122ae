"""The ``[keystone_authtoken]`` options of ``auth_strategy = keystone`` (docs/configuration.md).

In the configuration file they carry the names every OpenStack service gives them
(``[keystone_authtoken] auth_url``); everywhere else, so that ``username`` and
``password`` say whose they are, they are ``keystone_<name>``: the setting
``keystone_auth_url``, the variable ``CORRAL_KEYSTONE_AUTH_URL``. :mod:`corral.config`
adds them to the other options; this module only holds their types, defaults and help.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from corral.domain import bounds

KEYSTONE_SECTION = "keystone_authtoken"

#: (setting, help) of every option of the section, in the order ``config sample`` shows.
KEYSTONE_HELP: list[tuple[str, str]] = [
    ("keystone_www_authenticate_uri",
     "Keystone's public identity URL, sent to clients in the WWW-Authenticate header of "
     "a 401 (default: auth_url)."),
    ("keystone_auth_url",
     "Keystone's identity API URL that corral's service user authenticates and validates "
     "tokens against, e.g. http://keystone:5000/v3."),
    ("keystone_username", "corral's service user."),
    ("keystone_password", "The service user's password."),
    ("keystone_project_name", "The service user's project."),
    ("keystone_user_domain_name", "The service user's domain."),
    ("keystone_project_domain_name", "The service project's domain."),
    ("keystone_system_scope",
     "'all': the service user's session is system-scoped instead of project-scoped (no "
     "project_name). With the reader role on the system it validates tokens and reads "
     "the project hierarchy; a project-scoped 'service' role only validates tokens "
     "(docs/access.md)."),
    ("keystone_application_credential_id",
     "Authenticate with an application credential instead of a password (with "
     "application_credential_secret; username, password and project are then unused)."),
    ("keystone_application_credential_secret", "The application credential's secret."),
    ("keystone_token_cache_time",
     "Seconds a validated token is trusted without asking Keystone again (never past its "
     "expiry): a revoked token keeps working at most this long. 0: ask every time."),
    ("keystone_token_cache_size",
     "Most tokens one process keeps validated (the least recently used go first)."),
    ("keystone_http_connect_timeout",
     "Seconds to wait for Keystone before answering 503."),
    ("keystone_project_sync_interval_s",
     "Seconds between syncs of the project tree with Keystone's in 'corral serve' (POST "
     "/v1/keystone/sync runs one at once); 0 turns them off."),
]


class KeystoneSettings(BaseModel):
    """The Keystone fields of :class:`corral.config.Settings`."""

    keystone_www_authenticate_uri: str = ""
    keystone_auth_url: str = ""
    keystone_username: str = ""
    keystone_password: str = ""
    keystone_project_name: str = ""
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_system_scope: Literal["", "all"] = ""
    keystone_application_credential_id: str = ""
    keystone_application_credential_secret: str = ""
    keystone_token_cache_time: int = Field(default=300, ge=0, le=bounds.SECONDS.high)
    keystone_token_cache_size: int = Field(default=10_000, ge=1, le=10_000_000)
    keystone_http_connect_timeout: float = Field(default=5.0, gt=0, le=300,
                                                 allow_inf_nan=False)
    keystone_project_sync_interval_s: int = Field(default=600, ge=0, le=bounds.SECONDS.high)

    @field_validator("keystone_auth_url", "keystone_www_authenticate_uri")
    @classmethod
    def _check_keystone_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _check_keystone_credentials(self) -> Any:
        if getattr(self, "auth_strategy", None) != "keystone":
            return self
        if not self.keystone_auth_url:
            raise ValueError("auth_strategy = keystone needs [keystone_authtoken] auth_url")
        if self.keystone_application_credential_id:
            if not self.keystone_application_credential_secret:
                raise ValueError("[keystone_authtoken] application_credential_id needs "
                                 "application_credential_secret")
        elif not (self.keystone_username and self.keystone_password
                  and (self.keystone_project_name or self.keystone_system_scope)):
            raise ValueError("auth_strategy = keystone needs [keystone_authtoken] username, "
                             "password and project_name or system_scope (or an application "
                             "credential)")
        return self

    @property
    def keystone_public_uri(self) -> str:
        """What a 401 names in ``WWW-Authenticate``."""
        return self.keystone_www_authenticate_uri or self.keystone_auth_url
