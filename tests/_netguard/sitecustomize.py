# Put on PYTHONPATH by tests/conftest.py: every Python subprocess a test starts refuses
# non-loopback connections too, so a hidden download fails the test instead of hanging.
try:
    from llmforge.offline import refuse_outbound_connections, set_offline_env
except ImportError:  # a bare interpreter without llmforge (e.g. a fresh venv in a test)
    pass
else:
    set_offline_env()
    refuse_outbound_connections()
