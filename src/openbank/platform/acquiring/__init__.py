"""acquiring: the partner-facing acquiring API (/v1/open/acquiring/...). A partner platform's
app works with the payment orders of the merchants that came through it: create, read,
capture, void, close, refund. The orders themselves are the payments context's; this
sub-area checks who may reach which merchant and calls `payments.service`."""
