"""Webhook error codes: stable, snake_case."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound


class WebhookError(DomainError):
    code = "webhook_error"
    status = 422
    title = "The webhook request was refused"


class InvalidWebhookUrl(WebhookError):
    code = "invalid_webhook_url"
    title = (
        "Webhook URLs must be absolute https URLs (http only to localhost for sandbox apps),"
        " without credentials or fragments"
    )


class UnknownEventType(WebhookError):
    code = "unknown_event_type"
    title = "No such event type"


class TooManyEndpoints(WebhookError):
    code = "too_many_webhook_endpoints"
    status = 409
    title = "The app has as many webhook endpoints as it may have"


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "No such webhook endpoint"


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "No such webhook delivery"


class DeliveryNotReplayable(WebhookError):
    code = "webhook_delivery_not_replayable"
    status = 409
    title = "Only failed or dead deliveries to an active endpoint can be replayed"


class WebhookSignatureInvalid(WebhookError):
    code = "webhook_signature_invalid"
    status = 401
    title = "The webhook signature does not verify"
