"""moto's DynamoDB-API server, serving one request at a time.

`moto_server` handles each request on its own thread and moto does not lock its tables, so two
concurrent conditional writes to one item can both succeed. DynamoDB applies each write to an item
atomically; serving requests one at a time gives the tests the same guarantee, while clients stay
free to send requests concurrently.

Usage: python dynamodb-server.py PORT   (listens on 127.0.0.1 only)
"""

import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
