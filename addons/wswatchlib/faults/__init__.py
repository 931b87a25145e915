"""Fault injection: rules and their schedule decide, the injector acts.

Pure: rules.py (the rule files), schedule.py (when a rule fires), header.py (client-requested
faults), payloads.py (truncate, corrupt). Acting: injector.py, the mitmproxy addon. May import
events.py, options, watch (handshake facts) and mitm_internals.
"""
