"""partner_sandbox."""
