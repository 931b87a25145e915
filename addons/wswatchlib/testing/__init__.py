"""Testing a client against wswatch: the in-process proxy (`proxy`, acts: mitmproxy), the
checks over its events (`expectations`, pure) and the messages each connection carried
(`journal`: an addon that notes them, pure checks over them, matched as a script's waits match).
The pytest fixtures are in `wswatchlib.pytest_plugin`; this package imports the rest of
wswatchlib, never the reverse.

May import: events, output, verdicts, faults, wiring, mitm_internals.
"""
