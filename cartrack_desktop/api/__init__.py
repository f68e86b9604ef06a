"""The HTTP and WebSocket API (the seed's endpoints and more) over the runtime's services.

FastAPI + uvicorn on a thread and event loop of its own (`host.py` says why); every write goes
to the runtime's services on the runtime's loop (`port.py`), reads that only touch Redis or
MongoDB use the same service classes on the API's own connections. Never imports Qt.
"""
