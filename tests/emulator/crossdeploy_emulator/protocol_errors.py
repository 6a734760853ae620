"""Authentication/authorization errors in the shape of JSON-protocol services.

What moto 5.2.5 does: a request that fails the SigV4 or IAM check gets moto's generic
XML error (``<ErrorResponse><Error><Code>AccessDenied</Code>...``), whatever the
service's protocol. For a JSON-protocol service such as CodeDeploy the SDKs cannot parse
that body: boto3 reports the error code as ``"403"`` and the Rust SDK an unhandled error
without a code, so the operator could not classify "role lacks codedeploy:*" as
AccessDenied.

What this patch does: for requests in the awsJson protocol it re-raises
those errors as ``JsonRESTError`` with the codes such services use::

    AccessDenied          -> AccessDeniedException        (message kept: "User: ... is not
                                                           authorized to perform: codedeploy:X")
    SignatureDoesNotMatch -> InvalidSignatureException
    InvalidClientTokenId  -> UnrecognizedClientException

Query (STS, IAM) and REST-XML (S3) services keep moto's XML errors, which are right.
"""

from __future__ import annotations

from typing import Any

_CODE_MAP = {
    "AccessDenied": "AccessDeniedException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "InvalidClientTokenId": "UnrecognizedClientException",
}

_installed = False


def _is_json_protocol_request(response: Any) -> bool:
    """awsJson1.0/1.1 requests (CodeDeploy, ...) carry an ``application/x-amz-json-*``
    Content-Type. (Deciding by service model would be wrong: botocore's CodeDeploy model
    lists ``smithy-rpc-v2-cbor`` first, yet clients pick JSON.)"""
    try:
        content_type = response.headers.get("Content-Type", "") or ""
    except Exception:
        return False
    return content_type.startswith("application/x-amz-json")


def install() -> None:
    """Wrap ``ActionAuthenticatorMixin._authenticate_and_authorize_action`` (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError, _RESTError

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        try:
            return original(self, iam_request_cls, resource)
        except _RESTError as error:
            code = _CODE_MAP.get(getattr(error, "error_type", ""))
            if code is None or isinstance(error, JsonRESTError) or not _is_json_protocol_request(self):
                raise
            raise JsonRESTError(code, error.message) from error

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
    _installed = True
