"""Options and config files: typed values, one-line errors, mitmproxy defaults wswatch sets.

Pure: config_fields.py (YAML fields with errors naming file, entry and field), values.py (option
values). Acting: errors.py (the option check and its decorator), proxy_defaults.py.

May import: mitm_internals.
"""
