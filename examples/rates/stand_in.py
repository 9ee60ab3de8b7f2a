"""A local stand-in for the rates API, for trying the example offline:
`python3 stand_in.py [PORT]` (default 18077, the port tsdev.toml grants) answers
GET /latest?base=B&symbols=T with fixed rates, as api.frankfurter.app would."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

# Units of each currency per euro.
PER_EURO = {"EUR": 1.0, "USD": 1.25, "GBP": 0.8, "JPY": 160.0}


class Rates(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        base = query.get("base", ["EUR"])[0]
        symbols = query.get("symbols", [""])[0].split(",")
        if url.path != "/latest" or base not in PER_EURO:
            self.send_response(404)
            self.end_headers()
            return
        rates = {s: PER_EURO[s] / PER_EURO[base] for s in symbols if s in PER_EURO}
        body = json.dumps({"amount": 1.0, "base": base, "rates": rates}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18077
    server = HTTPServer(("127.0.0.1", port), Rates)
    print(f"rates stand-in on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
