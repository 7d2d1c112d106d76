"""The customer's side of the authorization server: sign-in (password, then a one-time
code), the consent page where the customer approves, narrows or refuses, and "my consents"
where a customer lists and revokes what they granted."""
