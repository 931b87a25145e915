"""Fault injection: rules and their schedule decide, the injector acts.

Pure: spec.py (what a rule is: match, schedule fields, action), rules.py (reading rule files into
specs), schedule.py (when a rule fires), header.py (client-requested faults), payloads.py
(truncate, corrupt). Acting: injector.py, the mitmproxy addon. May import events.py, options,
watch (handshake facts) and mitm_internals.
"""
