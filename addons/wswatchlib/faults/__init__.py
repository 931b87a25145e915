"""Fault injection: rules and their schedule decide which fault applies, effects decide what it
does, three addons act.

Pure: spec.py (what a rule is: match, schedule fields, action), rules.py (reading rule files into
specs), schedule.py (when a rule fires), header.py (client-requested faults), payloads.py
(truncate, corrupt), effects.py (what an action does to a request, a 101, a message, a pong, with
the time as an argument). Acting: rulebook.py (the rules in force, their reload and commands,
and how a fault is recorded), handshake_faults.py, connection_faults.py and moments.py
(`at_s` moments and `wswatch.disconnect_all`).

May import: events, rfc6455, text, options, output, watch, mitm_internals.
"""
