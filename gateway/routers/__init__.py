"""One router per resource: applications (the portal's), callbacks (the partners'), health."""
