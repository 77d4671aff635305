"""A minimal OpenID Connect provider on loopback for the sign-in test: discovery, an authorize
endpoint that signs the user in at once, a token endpoint returning an RS256 id_token, and JWKS."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey

USER = {"sub": "u-1", "email": "ada@example.com", "name": "Ada Lovelace"}
CLIENT_ID = "spendlake-test"


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    """Serve the provider; yields its issuer URL (its discovery document sits under it)."""
    key = RSAKey.generate_key(2048)
    kid = key.thumbprint()
    nonces: dict[str, str] = {}  # authorization code -> nonce of the request that asked for it

    class Provider(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            url = urllib.parse.urlparse(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/.well-known/openid-configuration":
                self._json({"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                            "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
                            "response_types_supported": ["code"], "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"]})
            elif url.path == "/jwks":
                self._json({"keys": [key.as_dict(private=False) | {"kid": kid, "use": "sig", "alg": "RS256"}]})
            elif url.path == "/authorize":
                code = f"code-{len(nonces)}"
                nonces[code] = query.get("nonce", "")
                back = f"{query['redirect_uri']}?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", back)
                self.end_headers()
            else:
                self.send_error(404)

        def do_POST(self) -> None:  # noqa: N802
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            if self.path != "/token" or form.get("code") not in nonces:
                self.send_error(400)
                return
            now = int(time.time())
            claims = USER | {"iss": issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 600,
                             "nonce": nonces.pop(form["code"])}
            id_token = jwt.encode({"alg": "RS256", "kid": kid}, claims, key)
            self._json({"access_token": "access", "token_type": "Bearer", "expires_in": 600, "id_token": id_token})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
