"""The payer's side of acquiring: the checkout page a payer opens from a link or a QR code and
pays by bank card, and the payment-result page that offers a card payer an openbank e-account
and records where that offer converted (the first growth number)."""
