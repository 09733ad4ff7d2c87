"""A real OpenID Connect provider for the company sign-in tests: oidc-provider-mock served by
werkzeug on 127.0.0.1 in a thread. Its people and their claims are set over its HTTP API
(PUT /users/<sub>). `forge_keys` makes it publish keys other than those it signs with, as a
provider impersonated by a forger would look; a provider made with a negative token age
issues ID tokens that have already expired."""

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

CLIENT_ID, CLIENT_SECRET = "chat-workspace", "client-secret-for-tests"


class Provider:
    def __init__(self, token_age=timedelta(hours=1)):
        from oidc_provider_mock import app

        self.inner = app(require_nonce=True, access_token_max_age=token_age)
        self.forge_keys = False
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def wsgi(self, environ, start_response):
        if self.forge_keys and environ["PATH_INFO"] == "/jwks":
            body = json.dumps(forged_key_set(self.inner)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.inner(environ, start_response)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def set_person(self, sub: str, **claims) -> None:
        response = httpx.put(f"{self.url}/users/{sub}", json=claims)
        assert response.status_code == 204, response.text

    def consent(self, authorize_url: str, sub: str, deny: bool = False) -> str:
        """What the person's click on the provider's page answers: the callback URL."""
        form = {"action": "deny"} if deny else {"sub": sub}
        response = httpx.post(authorize_url, data=form)
        assert response.status_code == 302, response.text
        return response.headers["location"]


def forged_key_set(provider_app) -> dict:
    """The provider's key set with its key's id and another key's numbers."""
    real = provider_app.test_client().get("/jwks").get_json()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    forged = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other))
    return {"keys": [{**key, "n": forged["n"], "e": forged["e"]} for key in real["keys"]]}


def query_of(url: str) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
