"""Testing a client against wswatch: the in-process proxy (`proxy`, acts: mitmproxy) and the
checks over its events (`expectations`, pure). The pytest fixtures are in
`wswatchlib.pytest_plugin`; this package imports the rest of wswatchlib, never the reverse.

May import: events, output, verdicts, wiring.
"""
