"""Addon side of wrong wswatch settings: one error line each, and start-up stops.

mitmproxy's errorcheck addon ends start-up (exit code 1) when anything logs an error before the
proxy runs. Two ways wswatch would otherwise fail quietly or noisily:
- A `--set` value that does not convert for its option makes mitmproxy drop the whole script
  in silence; a misspelt `wswatch_*` name is ignored in silence. `OptionCheck`, wired last in
  the entry script, runs its `load` after every wswatch addon has declared its options and
  before mitmproxy converts the settings held back for them: it logs each refused setting
  (`option_values` decides) and takes it out, so wswatch loads with the default instead.
- A value our own `configure` refuses (a bad rules file, a negative count) raises
  `OptionsError`; at start-up mitmproxy prints that with its traceback as "error in script" and
  skips the configure of the addons after it. `logs_option_errors_until_running` logs it as one
  line instead. Once the proxy runs, the error is raised, so mitmproxy rolls the option back and
  the last good value stays in force.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mitmproxy import exceptions

from .. import mitm_internals
from .values import SetText, refused_settings

logger = logging.getLogger("wswatch")

AddonClass = TypeVar("AddonClass", bound=type)

#: Instance attribute set once mitmproxy has called the addon's `running` hook.
_RUNNING_ATTRIBUTE = "_wswatch_running"


class OptionCheck:
    """Addon: report wswatch settings mitmproxy could not apply, before it tries to."""

    def load(self, loader: Any) -> None:
        options = loader.master.options
        pending = mitm_internals.pending_settings(options, SetText)
        for refused in refused_settings(pending, mitm_internals.option_types(options)):
            mitm_internals.drop_pending_setting(options, refused.name)
            logger.error(refused.message)


def logs_option_errors_until_running(addon_class: AddonClass) -> AddonClass:
    """Class decorator: until `running`, an OptionsError from `configure` is one error line."""
    configure: Callable[[Any, set[str]], None] = getattr(addon_class, "configure")  # noqa: B009
    running: Callable[[Any], None] | None = getattr(addon_class, "running", None)

    @functools.wraps(configure)
    def configure_or_log(self: Any, updated: set[str]) -> None:
        try:
            configure(self, updated)
        except exceptions.OptionsError as error:
            if getattr(self, _RUNNING_ATTRIBUTE, False):
                raise
            logger.error(str(error))

    def mark_running(self: Any) -> None:
        setattr(self, _RUNNING_ATTRIBUTE, True)
        if running is not None:
            running(self)

    if running is not None:
        functools.update_wrapper(mark_running, running)
    setattr(addon_class, "configure", configure_or_log)  # noqa: B010 - any addon class
    setattr(addon_class, "running", mark_running)  # noqa: B010 - any addon class
    return addon_class
