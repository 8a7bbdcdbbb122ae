"""corral's own API under /v1: hosts, host aggregates, flavors (and, next, the scheduler).

FastAPI generates its OpenAPI document (served at /docs). Conventions, shared by every
module here:

- authentication as the Placement API (``x-auth-token``; see ``corral.api.context``);
  ``caller`` gives the RequestContext (401 without an accepted token), ``require_admin``
  refuses (403) anybody but an admin or service;
- every response carries ``x-openstack-request-id``;
- errors are ``{"error": {"status", "code", "message", "field", "request_id"}}``: ``code``
  is a stable snake_case string, ``field`` names the offending input when there is one.
  Bodies are validated by pydantic models with ``extra="forbid"``; a validation failure
  is a 400 naming the field.
"""

from __future__ import annotations

from corral.api.v1.answers import install_v1

__all__ = ["install_v1"]
