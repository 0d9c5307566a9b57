"""``scenario-run serve``: the standalone mock server many test processes share.

Imported only by the ``serve`` command: the embedded run never loads FastAPI, uvicorn or
httpx (its cold start stays what it is).
"""
