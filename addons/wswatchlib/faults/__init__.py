"""Fault injection: rules and their schedule decide which fault applies, effects decide what it
does, three addons act.

Pure: spec.py (what a rule is: match, schedule fields, action), directions.py and close_fields.py
(which way an action acts, which close it may send), rules.py (reading rule files into specs),
schedule.py (when a rule fires), header.py (client-requested faults), payloads.py (truncate,
corrupt), effects.py (what an action does to a request, a 101, a message, a pong, with the time
as an argument). Scripted streams: steps.py (a `script`'s steps), script_rules.py (reading them),
matching.py (which message a wait wants), templates.py (`{{...}}` in sent messages), script.py
(one connection's run of a script, on a clock it is given), schema.py (the JSON Schema of rule
files, generated from the loader's specs). Acting: rulebook.py (the rules in
force, their reload and commands, and how a fault is recorded), handshake_faults.py,
connection_faults.py (with scripted.py, which does what a script run decides) and moments.py
(`at_s` moments and `wswatch.disconnect_all`).

May import: events, rfc6455, text, options, output, watch, redaction, mitm_internals.
"""
