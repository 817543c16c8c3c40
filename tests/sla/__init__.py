"""The SLA policy file and the working-time clock (CONTRACT §6)."""
