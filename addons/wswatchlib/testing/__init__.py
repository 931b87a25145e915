"""Testing a client against wswatch: the in-process proxy (`proxy`, acts: mitmproxy), the
checks over its events (`expectations`, pure) and the messages each connection carried
(`journal`: an addon that notes them, pure checks over them, matched as a script's waits match),
and what a record mode does with a test's tape (`tape_modes`, pure).
The pytest fixtures are in `wswatchlib.pytest_plugin`; this package imports the rest of
wswatchlib, never the reverse.

May import: events, output, verdicts, faults, tapes, wiring, mitm_internals.
"""
