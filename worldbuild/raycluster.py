"""Connect to a Ray cluster as Ray ships today: since Ray 2.5x, `ray start --head` turns token
authentication on whenever a token exists (one is written by the first local `ray.init()`), and a
driver that does not say so is refused with a bare "Failed to connect". We present the token the
way Ray documents it (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token) and turn refusals
into one line that says what went wrong."""

from __future__ import annotations

import os
import socket
import threading


class RayUnavailable(ConnectionError):
    """No usable Ray cluster at the address; the message is one line for the user."""


def token_source() -> str | None:
    """Where a Ray authentication token is to be found, or None."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return path if os.path.isfile(path) and os.path.getsize(path) else None
    default = os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    return default if os.path.isfile(default) and os.path.getsize(default) else None


def present_token() -> bool:
    """Turn token mode on for this process (and the workers it starts) when a token is at hand and
    the user has not chosen a mode, as `ray start` does for itself; True when the connection will
    carry a token. Ray's own step is used because Ray reads its mode once at import and must be
    told to read it again."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available as enable,
        )
    except ImportError:  # a Ray from before token authentication: nothing to present
        return False
    return bool(enable(warn_if_disabled=False))


def _host_port(address: str | None) -> bool:
    """A plain HOST:PORT (not "auto", "local" or a ray:// client address)."""
    if not address or "://" in address:
        return False
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit()


def _answers(address: str) -> bool:
    """Whether something listens at HOST:PORT (a refused driver still finds the port open), so a
    wrong address fails at once instead of after Ray's long wait for its control store."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _refusal(address: str, wait: float = 5.0) -> Exception | None:
    """The cluster's refusal of this driver, asked once of its control store: `ray.init` retries a
    refused connection once a second for about 20 s before it gives up. Anything but a refusal,
    or no answer within `wait` (something other than Ray listening), is left to `ray.init`."""
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray from before token authentication
        return None
    refusal: list[Exception] = []

    def ask() -> None:
        try:
            GcsClient(address=address)
        except AuthenticationError as exc:
            refusal.append(exc)
        except Exception:  # anything else: ray.init says what
            pass

    asking = threading.Thread(target=ask, name="ray-auth-probe", daemon=True)
    asking.start()
    asking.join(wait)
    return refusal[0] if refusal else None


def connect(address: str | None, **init_kwargs):
    """`ray.init(address=...)` with the cluster's authentication; the `ray` module. `address` None
    starts a local cluster (Ray makes and uses its own token then)."""
    import ray

    if ray.is_initialized():
        return ray
    if _host_port(address) and not _answers(address):
        raise RayUnavailable(f"no Ray cluster at {address}: nothing listens there (start one with `ray start --head`)")
    with_token = present_token() if address is not None else False
    refused = _refusal(address) if _host_port(address) else None
    if refused is not None:
        raise RayUnavailable(_why(address, with_token, refused))
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, configure_logging=False,
                 **init_kwargs)
    except ConnectionError as exc:
        raise RayUnavailable(_why(address, with_token, exc)) from None
    except Exception as exc:  # Ray raises AuthenticationError/RuntimeError for token trouble
        if "auth" in type(exc).__name__.lower() or "token" in str(exc).lower():
            raise RayUnavailable(f"Ray cluster at {address} refused the connection: {str(exc).splitlines()[0]}") from None
        raise
    return ray


def _why(address: str | None, with_token: bool, exc: Exception) -> str:
    where = address or "auto"
    if _host_port(address):
        if with_token:
            return (f"Ray cluster at {where} refused our token ({token_source() or 'RAY_AUTH_TOKEN'}): "
                    "use the head node's token (its ~/.ray/auth_token) in RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH")
        return (f"Ray cluster at {where} refused the connection: it uses token authentication and no token was "
                "found; copy the head node's ~/.ray/auth_token here or set RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH")
    return f"no Ray cluster at {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
