"""Case intake (受理) and the portal's operations on a case, shared by the gateway and starter.py."""
