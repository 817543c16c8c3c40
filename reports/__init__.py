"""Reports for operations and supervision, from what the service recorded once."""
