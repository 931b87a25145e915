"""Addon: the vendor profiles in force, and the secret names they and the user declare.

Owns `wswatch_vendors`, `wswatch_redact_headers`, `wswatch_redact_params` and
`wswatch_redact_message_keys`: the catalog (`vendors.load_catalog`), the redactor built from its
secret names and the user's, and the secret keys of messages. Every addon that reads a vendor
fact or redacts asks this one, so they all see the same profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mitmproxy import ctx, exceptions

from ..options.errors import logs_option_errors_until_running
from ..redaction.payloads import MessageKeyRules
from ..redaction.redactor import Redactor, SecretNames
from .vendors import DEFAULT_VENDORS_PATH, VendorCatalog, VendorFileError, load_catalog


@logs_option_errors_until_running
class VendorProfiles:
    def __init__(self) -> None:
        self.catalog: VendorCatalog | None = None
        self.redactor = Redactor(SecretNames())
        #: The JSON keys whose values are secret in messages (built-in, profiles', user's).
        self.message_secrets = MessageKeyRules()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_vendors",
            str,
            DEFAULT_VENDORS_PATH,
            "Vendor profiles (YAML): error and request-id headers, secrets, close codes, hints.",
        )
        loader.add_option(
            "wswatch_redact_headers",
            Sequence[str],
            [],
            "More header names whose values are secrets (added to the vendor profiles' list).",
        )
        loader.add_option(
            "wswatch_redact_params",
            Sequence[str],
            [],
            "More query parameter names whose values are secrets.",
        )
        loader.add_option(
            "wswatch_redact_message_keys",
            Sequence[str],
            [],
            "More JSON keys whose values are secrets in WebSocket messages, at any depth "
            "(added to the built-in list and the vendor profiles' message_keys).",
        )

    def configure(self, updated: set[str]) -> None:
        if "wswatch_vendors" in updated:
            path = ctx.options.wswatch_vendors
            try:
                self.catalog = load_catalog(path)
            except VendorFileError as error:
                raise exceptions.OptionsError(f"Cannot load wswatch_vendors: {error}") from error
        if updated & {"wswatch_vendors", "wswatch_redact_headers", "wswatch_redact_params"}:
            assert self.catalog is not None
            extra = SecretNames(
                headers=frozenset(n.lower() for n in ctx.options.wswatch_redact_headers),
                query=frozenset(n.lower() for n in ctx.options.wswatch_redact_params),
            )
            self.redactor = Redactor(self.catalog.all_secrets.merged(extra))
        if updated & {"wswatch_vendors", "wswatch_redact_message_keys"}:
            assert self.catalog is not None
            self.message_secrets = self.catalog.all_message_secrets.merged(
                MessageKeyRules.of(ctx.options.wswatch_redact_message_keys)
            )

    def idle_timeouts(self) -> dict[str, float]:
        """Each vendor's documented idle timeout, for the verdicts (none before loading)."""
        return self.catalog.idle_timeouts if self.catalog else {}
