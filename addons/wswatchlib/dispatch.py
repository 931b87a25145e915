"""wswatch's concerns shown to mitmproxy as one addon, which hands each hook to them in order.

Why: mitmproxy asks every addon of its chain for every hook it triggers (each flow hook twice,
with the `update` that follows it), walking nested addons through a recursive generator and a
`getattr` per addon. wswatch is one addon per concern (17 of them), so a handshake paid for 17
lookups per hook, most of them for hooks the concern does not have. The dispatcher looks every
hook up once, at start, and then calls only the concerns that have it, in wiring order.

It keeps what mitmproxy gives each addon: `load` and `configure` reach every concern in order,
the concerns' `@command.command` methods are registered through the loader, an exception in one
concern is logged as mitmproxy logs it ("Addon error: ...") and the next concern still runs,
and `AddonHalt` / `OptionsError` go up to mitmproxy as before. A hook is async where one of its
concerns' handlers is, as mitmproxy's own `invoke_addon` would await it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mitmproxy import addonmanager, exceptions, hooks, log
from mitmproxy.proxy import layers, server_hooks

logger = logging.getLogger(__name__)

#: The modules whose hook classes fill `hooks.all_hooks` (the connection, http, websocket, tcp,
#: tls, dns and udp hooks, and add_log), so every hook is known before a dispatcher looks them up.
HOOK_MODULES = (server_hooks, layers, log)

#: Exceptions that mean something to mitmproxy's addon manager: passed up, never logged here.
_PASSED_UP = (exceptions.AddonHalt, exceptions.OptionsError)


def addon_name(addon: Any) -> str:
    """The name mitmproxy files an addon under: its `name`, else its lower-case class name."""
    return str(getattr(addon, "name", type(addon).__name__.lower()))


def _log_addon_error(error: Exception) -> None:
    """What mitmproxy's `safecall` logs for an addon's exception, so tests and users see the
    same line whichever concern raised it."""
    logger.error(f"Addon error: {error}", exc_info=error)


def _sync_hook(handlers: tuple[Callable[..., Any], ...]) -> Callable[..., Any]:
    """A hook whose handlers are plain functions. One may still return an awaitable (a sync
    `websocket_message` returning `asyncio.sleep(...)`, which mitmproxy awaits): from there on
    the hook returns a coroutine that awaits it and runs the handlers after it, so the order
    holds and mitmproxy awaits the rest as it awaited that handler."""

    def dispatch(*args: Any) -> Any:
        for index, handler in enumerate(handlers):
            try:
                result = handler(*args)
            except _PASSED_UP:
                raise
            except Exception as error:
                _log_addon_error(error)
                continue
            if result is not None and inspect.isawaitable(result):
                return _await_then_run(result, handlers[index + 1 :], args)
        return None

    return dispatch


async def _await_then_run(
    pending: Any, handlers: tuple[Callable[..., Any], ...], args: tuple[Any, ...]
) -> None:
    try:
        await pending
    except _PASSED_UP:
        raise
    except Exception as error:
        _log_addon_error(error)
    await _async_hook(handlers)(*args)


def _async_hook(handlers: tuple[Callable[..., Any], ...]) -> Callable[..., Any]:
    """A hook with a coroutine handler: mitmproxy sees an async function, as it would have
    seen that concern's (so a sync-only caller gets mitmproxy's own refusal, not a silent skip)."""

    async def dispatch(*args: Any) -> None:
        for handler in handlers:
            try:
                result = handler(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except _PASSED_UP:
                raise
            except Exception as error:
                _log_addon_error(error)

    return dispatch


def handlers_of(concerns: Iterable[Any], hook_name: str) -> tuple[Callable[..., Any], ...]:
    """The concerns' handlers of one hook, in order; a module imported under a hook's name
    (`from mitmproxy import log`) is not a handler, as mitmproxy skips it too."""
    found = []
    for concern in concerns:
        handler = getattr(concern, hook_name, None)
        if handler is not None and callable(handler):
            found.append(handler)
    return tuple(found)


def commands_of(concern: Any) -> list[tuple[str, Any]]:
    """A concern's `@command.command` methods, found as mitmproxy's `collect_commands` finds
    them (an attribute whose `command_name` is a string)."""
    found = []
    for attribute in dir(concern):
        if attribute.startswith("__"):
            continue
        method = getattr(concern, attribute, None)
        name = getattr(method, "command_name", None)
        if isinstance(name, str):
            found.append((name, method))
    return found


def hooks_answered_none(namespace: dict[str, Any]) -> None:
    """Give a script module every hook name mitmproxy knows, as None, where it has none.

    mitmproxy walks the loaded script's module too, for every hook it triggers (with `update`
    and `add_log`, about 20 per connection), asking it for the hook by name. A module answers
    a name it lacks by raising a formatted AttributeError, and then another one (`module
    'x' has no attribute 'y'`); a None answer is one dictionary lookup, and mitmproxy skips a
    hook that is None as it skips a missing one."""
    for hook_name in hooks.all_hooks:
        namespace.setdefault(hook_name, None)


class Dispatcher:
    """One addon in mitmproxy's chain for all of wswatch's concerns (see the module docstring)."""

    name = "wswatch"

    def __init__(self, concerns: Sequence[Any]) -> None:
        self._concerns = tuple(concerns)
        self._by_name = {addon_name(concern): concern for concern in self._concerns}
        if len(self._by_name) != len(self._concerns):
            raise ValueError("two wswatch concerns share a name")
        names = []
        for hook_name in sorted(hooks.all_hooks):
            if hook_name == "load":
                continue
            handlers = handlers_of(self._concerns, hook_name)
            if not handlers:
                continue
            is_async = any(inspect.iscoroutinefunction(handler) for handler in handlers)
            dispatch = _async_hook(handlers) if is_async else _sync_hook(handlers)
            setattr(self, hook_name, dispatch)
            names.append(hook_name)
        self.hook_names: tuple[str, ...] = tuple(names)
        self._loads = handlers_of(self._concerns, "load")

    def load(self, loader: addonmanager.Loader) -> None:
        """Every concern's `load` in order (they declare their options), then their commands."""
        for load in self._loads:
            load(loader)
        for concern in self._concerns:
            for command_name, method in commands_of(concern):
                loader.add_command(command_name, method)

    def part(self, name: str) -> Any:
        """The concern mitmproxy would have filed under `name` (e.g. "faultrules"), or None."""
        return self._by_name.get(name)

    @property
    def concerns(self) -> tuple[Any, ...]:
        """The concerns, in the order they get each hook."""
        return self._concerns
