"""Cloud failures as one-line messages a user can act on (codes from docs/cloud-keys.md).

Classify by Tuya's numeric ``code``, never by message text. The table is the one place that
says what each code means for a user; the OpenAPI client and the QR route both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ..errors import PowermonitorError

__all__ = ["CLOUD_MESSAGES", "CloudError", "cloud_error"]


class CloudError(PowermonitorError):
    """Tuya's cloud refused a request, or could not be reached or understood.

    ``code`` is Tuya's error code as a string ("" when the failure was not an error reply).
    """

    exit_code = 11

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


_RENEW = ("renew the IoT Core service at iot.tuya.com (Cloud → Development → your project → "
          "Service API; a free renewal form exists), or use `powermonitor wizard qr` or an "
          "existing devices.json")

#: Tuya code → what to tell the user (docs/cloud-keys.md, "Error codes").
CLOUD_MESSAGES: Final[Mapping[str, str]] = MappingProxyType({
    "1004": "sign invalid: the Access Secret is wrong (or the project uses the other signing "
            "algorithm: try --old-signing)",
    "1010": "token expired, and a fresh token was refused too: try again in a minute",
    "1011": "token invalid, and a fresh token was refused too: try again in a minute",
    "1013": "request time invalid: this computer's clock is off by more than Tuya allows "
            "(about 5 min): set the clock (NTP) and try again",
    "1106": "permission denied: wrong data center (--region must be where the app account "
            "lives), the app account is not linked to the cloud project, or the device id is "
            "not one of yours",
    "2007": "cross-region access is not allowed: pick the --region of the data center your "
            "cloud project uses",
    "2009": "this device has no data points in the cloud (not supported)",
    "28841001": "no permission: the IoT Core subscription has probably expired: " + _RENEW,
    "28841002": "the subscription to the cloud development plan has expired: " + _RENEW,
    "28841105": "the cloud project is not authorised for this API: subscribe to and authorise "
                "the \"IoT Core\" and \"Authorization\" services in the project",
    "28841107": "the data center is suspended: remove the data center from the cloud project "
                "and add it again (iot.tuya.com → project → Overview → Data Center)",
})


def cloud_error(code: object, msg: object = "", *, what: str = "") -> CloudError:
    """The CloudError for an error reply: our sentence for known codes, Tuya's text otherwise."""
    text = str(code).strip()[:32] if code is not None else ""
    known = CLOUD_MESSAGES.get(text)
    prefix = f"{what}: " if what else ""
    if known:
        return CloudError(f"Tuya cloud error {text}: {prefix}{known}", text)
    detail = " ".join(str(msg).split())[:200] if msg else "no message"
    return CloudError(f"Tuya cloud error {text or '?'}: {prefix}{detail}", text)
