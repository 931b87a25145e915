"""The observe-only relay: which relay follows a connection, and the RFC 6455 frame reader.

Both pure (the watcher acts on them); they never import mitmproxy.
"""
